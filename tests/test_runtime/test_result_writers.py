"""The command's outputs: the JSON list, streamed frame by frame (the target is only ever
complete), and the drawn video of a video file or a live source."""
import json

import cv2
import numpy as np

from shufflenet_det_runtime.result_writers import JsonOutput, VideoOutput


def test_the_json_list_appears_complete_on_close_and_not_before(tmp_path):
    target = tmp_path / 'runs' / 'found.json'
    output = JsonOutput(str(target))
    frames = [[dict(file_name='a.jpg', score=0.5)], [],
              [dict(file_name='b.jpg', score=0.25), dict(file_name='b.jpg', score=0.125)]]
    for records in frames:
        output.write(records)
        assert not target.exists()
    assert output.count == 3
    output.close()
    assert json.loads(target.read_text()) == [r for records in frames for r in records]
    assert list(target.parent.iterdir()) == [target]  # the partial file is gone


def test_a_run_without_detections_writes_an_empty_list(tmp_path):
    output = JsonOutput(str(tmp_path / 'none.json'))
    output.close()
    assert json.loads((tmp_path / 'none.json').read_text()) == []


def grey_levels(path) -> list:
    """The grey level of each frame of a video of plain frames."""
    capture, levels = cv2.VideoCapture(str(path)), []
    while True:
        ok, image = capture.read()
        if not ok:
            return levels
        levels.append(int(round(image.mean() / 50)) * 50)


def test_a_live_sources_video_holds_each_frame_until_the_next_one_comes(tmp_path):
    times = iter([0.0, 0.05, 0.35, 0.36, 1.0, 4.0])  # when the frames come, in seconds
    video = VideoOutput(str(tmp_path / 'camera0.mp4'), 10, real_time=True,
                        clock=lambda: next(times))
    for level in (0, 50, 100, 150, 200, 250):
        video.write(np.full((48, 64, 3), level, np.uint8))
    video.close()
    # at 10 fps a frame a tenth of a second: one second of video, then the last frame held
    # for a second at most (each copy is encoded again), then the sixth
    assert grey_levels(tmp_path / 'camera0.mp4') == \
        [0, 50, 50, 100] + [150] * 6 + [200] * 11 + [250]

    video = VideoOutput(str(tmp_path / 'clip.mp4'), 10)  # a video file's frames: each once
    for level in (0, 50, 100):
        video.write(np.full((48, 64, 3), level, np.uint8))
    video.close()
    assert grey_levels(tmp_path / 'clip.mp4') == [0, 50, 100]
