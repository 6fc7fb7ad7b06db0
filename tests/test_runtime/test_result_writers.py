"""The command's JSON list, streamed frame by frame: the target is only ever complete."""
import json

from shufflenet_det_runtime.result_writers import JsonOutput


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
