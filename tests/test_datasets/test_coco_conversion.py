"""Labelled photos in the YOLO layout or as Pascal VOC XML, converted to COCO json: the boxes
as MMDetection's own readers see them, the sizes as the images load, and each check of the
data counted in the report."""
import json
import xml.etree.ElementTree as ElementTree
from types import SimpleNamespace

import cv2
import mmcv
import numpy as np
import pytest
from mmdet.datasets.xml_style import XMLDataset
from PIL import Image

from shufflenet_det.datasets import DatasetError
from shufflenet_det.datasets.coco_conversion import convert_to_coco, write_coco
from shufflenet_det.datasets.conversion_report import counted
from shufflenet_det.datasets.image_header import image_size
from tests.shared_data import COCO_TINY, SHARED_DATA, requires_shared
from tests.test_tools.tool_runner import run_tool

RACCOON = SHARED_DATA / 'raccoon_voc'
COCO_TINY_YOLO = SHARED_DATA / 'coco_tiny_yolo'


def photo(path, width=64, height=48, **save_options):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
    Image.fromarray(pixels).save(path, **save_options)


def voc_xml(path, filename, size, objects):
    """``objects``: (name, (xmin, ymin, xmax, ymax) as written, difficult)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    boxes = ''.join(
        f'<object><name>{name}</name><difficult>{int(difficult)}</difficult><bndbox>'
        f'<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>'
        for name, (x1, y1, x2, y2), difficult in objects)
    path.write_text(f'<annotation><filename>{filename}</filename><size><width>{size[0]}</width>'
                    f'<height>{size[1]}</height><depth>3</depth></size>{boxes}</annotation>')


def corners(annotation):
    x, y, w, h = annotation['bbox']
    return [x, y, x + w, y + h]


def test_voc_corners_are_read_as_mmdetections_xml_reader_reads_them(tmp_path):
    objects = [('cat', ('1', '2', '40', '30'), False), ('dog', ('10.7', '5.2', '33.9', '47.5'),
                                                        True)]
    voc_xml(tmp_path / 'a.xml', 'a.jpg', (64, 48), objects)
    photo(tmp_path / 'a.jpg')
    dataset = convert_to_coco(str(tmp_path), ['cat', 'dog'])
    mine = sorted(dataset.train['annotations'] + dataset.val['annotations'],
                  key=lambda a: a['category_id'])
    reader = SimpleNamespace(_metainfo=dict(classes=('cat', 'dog')), bbox_min_size=None,
                             cat2label=dict(cat=0, dog=1))
    theirs = XMLDataset._parse_instance_info(reader, ElementTree.parse(tmp_path / 'a.xml'))
    assert [corners(a) for a in mine] == [instance['bbox'] for instance in theirs]
    assert [a['iscrowd'] for a in mine] == [instance['ignore_flag'] for instance in theirs]
    assert corners(mine[0]) == [0, 1, 39, 29]  # 1-based pixel corners, one subtracted
    report = dataset.report
    assert report.count('decimal_coordinates') == 1 and report.count('difficult') == 1


@requires_shared(RACCOON)
def test_raccoon_is_read_whole_and_split_every_fifth_image(tmp_path):
    dataset = convert_to_coco(str(RACCOON))
    train, val = dataset.train, dataset.val
    assert dataset.classes == ['raccoon']
    assert (len(train['images']), len(val['images'])) == (160, 40)
    assert len(train['annotations']) + len(val['annotations']) == 217
    names = sorted(image['file_name'] for image in train['images'] + val['images'])
    assert [image['file_name'] for image in val['images']] == names[4::5]
    first = next(image for image in train['images'] if image['file_name'] ==
                 'images/raccoon-1.jpg')
    assert (first['width'], first['height']) == (650, 417)
    box = next(a for a in train['annotations'] if a['image_id'] == first['id'])
    assert corners(box) == [80, 87, 521, 407]  # xmin 81 ymin 88 xmax 522 ymax 408
    assert dataset.report.notes == {}  # nothing to fix in it
    written = write_coco(dataset, str(tmp_path))
    assert json.loads(written[1].read_text()) == val


@requires_shared(COCO_TINY, COCO_TINY_YOLO)
@pytest.mark.parametrize('split', ['train', 'val'])
def test_the_yolo_copy_of_coco_tiny_converts_back_to_its_boxes(split):
    dataset = convert_to_coco(str(COCO_TINY_YOLO))
    mine = getattr(dataset, split)
    truth = json.loads((COCO_TINY / f'annotations/instances_{split}2017.json').read_text())
    assert [c['name'] for c in mine['categories']] == [
        c['name'] for c in sorted(truth['categories'], key=lambda c: c['id'])]
    names = {c['id']: c['name'] for c in truth['categories']}
    mine_names = {c['id']: c['name'] for c in mine['categories']}
    by_file = {image['file_name']: image for image in truth['images']}
    compared = 0
    for image in mine['images']:
        expected = by_file[image['file_name'].rsplit('/', 1)[-1]]
        assert (image['width'], image['height']) == (expected['width'], expected['height'])
        boxes = sorted((mine_names[a['category_id']], a['bbox']) for a in mine['annotations']
                       if a['image_id'] == image['id'])
        truth_boxes = sorted((names[a['category_id']], a['bbox']) for a in truth['annotations']
                             if a['image_id'] == expected['id'] and not a['iscrowd'])
        assert [name for name, _ in boxes] == [name for name, _ in truth_boxes]
        if boxes:
            np.testing.assert_allclose([b for _, b in boxes], [b for _, b in truth_boxes],
                                       atol=0.01)
        compared += len(boxes)
    assert compared == dict(train=699, val=804)[split]


def yolo_dataset(root, labels, names='names: [cat, dog]'):
    """``root/data.yaml`` and images/labels folders; ``labels``: {stem: text or None}."""
    root.mkdir(parents=True, exist_ok=True)
    (root / 'data.yaml').write_text(f'path: .\ntrain: images/train\nval: images/val\n{names}\n')
    for split in ('train', 'val'):
        for stem, text in labels.items():
            photo(root / 'images' / split / f'{stem}.jpg')
            if text is not None:
                label = root / 'labels' / split / f'{stem}.txt'
                label.parent.mkdir(parents=True, exist_ok=True)
                label.write_bytes(text.encode())


def test_yolo_checks_are_counted_and_fixed(tmp_path):
    yolo_dataset(tmp_path, {
        'crlf': '0 0.5 0.5 0.25 0.5\r\n1 0.25 0.25 0.1 0.1\r\n',
        'bom': '\ufeff1 0.5 0.5 0.5 0.5\n',
        'polygon': '0 0.1 0.1 0.5 0.1 0.5 0.6 0.1 0.6\n',
        'outside': '0 0.9 0.5 0.4 0.5\n',
        'broken': '0 0.5\nnot a line\n1 0.5 0.5 0.2 0.2\n',
        'empty': '', 'nolabel': None})
    (tmp_path / 'labels/train/orphan.txt').write_text('0 0.5 0.5 0.1 0.1\n')
    dataset = convert_to_coco(str(tmp_path))
    report = dataset.report
    counts = {kind: report.count(kind) for kind in report.notes}
    assert counts == dict(crlf=2, bom=2, polygon=2, yolo_outside_unit=2, malformed_line=4,
                          image_without_labels=4, label_without_image=1)
    boxes = {image['file_name']: [corners(a) for a in dataset.train['annotations']
                                  if a['image_id'] == image['id']]
             for image in dataset.train['images']}
    np.testing.assert_allclose(boxes['images/train/polygon.jpg'], [[6.4, 4.8, 32, 28.8]])
    np.testing.assert_allclose(boxes['images/train/outside.jpg'], [[44.8, 12, 64, 36]])
    assert dataset.classes == ['cat', 'dog'] and len(boxes['images/train/empty.jpg']) == 0
    summary = report.summary(dataset.classes)
    assert summary[0] == 'read the YOLO layout (data.yaml): 14 images, 12 boxes of 2 classes ' \
                         '(cat, dog)'
    assert 'fixed: 2 YOLO polygon lines (more than 5 numbers), read as their bounding box: ' \
           'labels/train/polygon.txt, labels/val/polygon.txt' in summary


def test_the_summary_counts_one_image_box_and_class_in_the_singular(tmp_path):
    photo(tmp_path / 'a.jpg')
    voc_xml(tmp_path / 'a.xml', 'a.jpg', (64, 48), [('cat', ('5', '5', '40', '30'), False)])
    dataset = convert_to_coco(str(tmp_path))
    assert dataset.report.summary(dataset.classes)[:2] == [
        'read Pascal VOC XML: 1 image, 1 box of 1 class (cat)',
        'split: none given: every 5th image by sorted path to val: 1 image (1 box) to train, '
        '0 (0 boxes) to val']
    assert [counted(2, 'box'), counted(0, 'image'), counted(3, 'class')] == \
        ['2 boxes', '0 images', '3 classes']


def test_a_yolo_class_outside_names_stops_naming_the_line(tmp_path):
    yolo_dataset(tmp_path, {'a': '0 0.5 0.5 0.1 0.1\n2 0.5 0.5 0.1 0.1\n'},
                 names='names: {0: cat, 1: dog}')
    with pytest.raises(DatasetError, match=r'^labels/train/a.txt:2: class 2 is not one of the 2 '
                                           r'classes \(0..1\) of names'):
        convert_to_coco(str(tmp_path))


def test_images_without_any_label_file_stop_in_one_line(tmp_path):
    yolo_dataset(tmp_path, {'a': None, 'b': None})
    with pytest.raises(DatasetError, match=r'data.yaml: none of its 4 images has a label file '
                                           r'\(looked for a labels/ folder mirroring each '
                                           r'images/ folder\)$'):
        convert_to_coco(str(tmp_path))


def test_roboflow_paths_and_a_plain_folder_with_classes_txt(tmp_path):
    roboflow = tmp_path / 'roboflow'
    roboflow.mkdir()
    (roboflow / 'data.yaml').write_text('train: ../train/images\nval: ../valid/images\n'
                                        'nc: 1\nnames: [dog]\n')
    for split in ('train', 'valid'):
        photo(roboflow / split / 'images/x.jpg')
        (roboflow / split / 'labels').mkdir()
        (roboflow / split / 'labels/x.txt').write_text('0 0.5 0.5 0.5 0.5\n')
    dataset = convert_to_coco(str(roboflow))
    assert [i['file_name'] for i in dataset.val['images']] == ['valid/images/x.jpg']

    plain = tmp_path / 'images' / 'plain'  # an 'images' folder above: labels stay beside
    for stem in 'abcdefghij':
        photo(plain / f'{stem}.jpg')
        (plain / f'{stem}.txt').write_text('1 0.5 0.5 0.5 0.5\n')
    (plain / 'classes.txt').write_text('cat\ndog\n')
    dataset = convert_to_coco(str(plain), ['dog'])
    assert [i['file_name'] for i in dataset.val['images']] == ['e.jpg', 'j.jpg']
    assert dataset.classes == ['dog'] and len(dataset.train['annotations']) == 8
    assert dataset.report.split == 'none given: every 5th image by sorted path to val'


def test_voc_checks_are_counted_and_the_devkit_split_is_used(tmp_path):
    devkit = tmp_path / 'VOC'
    for stem, size, objects in [
            ('a', (64, 48), [('cat', (1, 1, 10, 10), False), ('cow', (1, 1, 9, 9), False)]),
            ('b', (100, 100), [('dog', (50, 40, 80, 60), False)]),  # the file is 64x48
            ('c', (64, 48), [('cat', (5, 5, 5, 20), False)]),  # no width
            ('d', (64, 48), [])]:
        voc_xml(devkit / 'Annotations' / f'{stem}.xml', f'{stem}.jpg', size, objects)
        photo(devkit / 'JPEGImages' / f'{stem}.jpg')
    voc_xml(devkit / 'Annotations/lost.xml', 'lost.jpg', (64, 48), [])
    (devkit / 'Annotations/broken.xml').write_text('<annotation><object>')
    (devkit / 'ImageSets/Main').mkdir(parents=True)
    (devkit / 'ImageSets/Main/trainval.txt').write_text('a\nb\nc\nd\n')
    (devkit / 'ImageSets/Main/val.txt').write_text('d\n')
    dataset = convert_to_coco(str(tmp_path), ['cat', 'dog'])
    report = dataset.report
    assert {kind: report.count(kind) for kind in report.notes} == dict(
        other_class=1, size_mismatch=1, box_clipped=1, box_empty=1, image_without_labels=1,
        label_without_image=1, unreadable_xml=1)
    assert report.split == 'ImageSets/Main/trainval.txt (less val.txt) and val.txt'
    assert [i['file_name'] for i in dataset.val['images']] == ['VOC/JPEGImages/d.jpg']
    assert [corners(a) for a in dataset.train['annotations']] == [[0, 0, 9, 9], [49, 39, 64, 48]]
    with pytest.raises(DatasetError, match=r"none of the classes \['horse'\] is in the data"):
        convert_to_coco(str(tmp_path), ['horse'])
    # CVAT's default.txt lists everything: split as when no split is given
    (devkit / 'ImageSets/Main/val.txt').unlink()
    (devkit / 'ImageSets/Main/trainval.txt').rename(devkit / 'ImageSets/Main/default.txt')
    dataset = convert_to_coco(str(tmp_path), ['cat', 'dog'])
    assert dataset.report.split == 'none given: every 5th image by sorted path to val'
    assert [i['file_name'] for i in dataset.val['images']] == []  # 4 images: none is a 5th
    assert len(dataset.train['images']) == 4


def test_sizes_are_read_from_headers_after_exif_rotation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # turned a quarter
    photo(tmp_path / 'turned.jpg', 64, 48, exif=exif)
    height, width = cv2.imread(str(tmp_path / 'turned.jpg')).shape[:2]
    assert image_size(tmp_path / 'turned.jpg') == (width, height) == (48, 64)
    (tmp_path / 'not.jpg').write_bytes(b'no image')
    assert image_size(tmp_path / 'not.jpg') is None
    photo(tmp_path / 'turned.tif', 64, 48, exif=exif)  # Pillow turns a TIFF's size itself
    height, width = mmcv.imfrombytes((tmp_path / 'turned.tif').read_bytes()).shape[:2]
    assert image_size(tmp_path / 'turned.tif') == (width, height) == (48, 64)


def test_the_tool_writes_both_files_and_refuses_a_folder_it_cannot_read(tmp_path):
    yolo_dataset(tmp_path / 'data', {'a': '0 0.5 0.5 0.1 0.1\n'})
    result = run_tool('tools/dataset_converters/to_coco.py', tmp_path / 'data', '--out-dir',
                      tmp_path / 'out', '--classes', 'cat')
    assert result.stdout.splitlines()[0] == ('read the YOLO layout (data.yaml): 2 images, '
                                             '2 boxes of 1 class (cat)')
    assert json.loads((tmp_path / 'out/instances_train.json').read_text())['categories'] == [
        dict(id=1, name='cat', supercategory='none')]
    (tmp_path / 'nothing').mkdir()
    refused = run_tool('tools/dataset_converters/to_coco.py', tmp_path / 'nothing', '--out-dir',
                       tmp_path / 'out2', check=False)
    assert refused.returncode == 2 and not (tmp_path / 'out2').exists()
    assert refused.stderr.strip().splitlines() == [
        f'error: {tmp_path / "nothing"} has no data.yaml, classes.txt, COCO json or .xml files: '
        'give a folder in the YOLO layout, with COCO json files (in it or in annotations/) or '
        'with Pascal VOC XML files']
    (tmp_path / 'a_file').write_text('kept')
    refused = run_tool('tools/dataset_converters/to_coco.py', tmp_path / 'data', '--out-dir',
                       tmp_path / 'a_file', check=False)
    assert refused.returncode == 2 and (tmp_path / 'a_file').read_text() == 'kept'
    assert refused.stderr.strip().splitlines() == [
        f'error: cannot make the folder {tmp_path / "a_file"}: File exists']


def test_a_repeated_yolo_dataset_reads_as_many_times_larger(tmp_path):
    yolo_dataset(tmp_path / 'data', {'a': '0 0.5 0.5 0.1 0.1\n', 'b': '1 0.5 0.5 0.2 0.2\n'})
    run_tool('tools/misc/repeat_yolo_dataset.py', tmp_path / 'data', tmp_path / 'big', '--times',
             '3')
    small, big = convert_to_coco(str(tmp_path / 'data')), convert_to_coco(str(tmp_path / 'big'))
    for split in ('train', 'val'):
        assert len(getattr(big, split)['images']) == 3 * len(getattr(small, split)['images'])
        assert len(getattr(big, split)['annotations']) == 3 * len(
            getattr(small, split)['annotations'])
    assert (tmp_path / 'big/images/train/2_a.jpg').stat().st_ino == \
        (tmp_path / 'data/images/train/a.jpg').stat().st_ino  # linked, not copied


def coco_boxes(coco: dict) -> set:
    """(image file name, class name, box rounded to 0.01 px, crowd) of every box."""
    files = {image['id']: image['file_name'].split('/')[-1] for image in coco['images']}
    names = {category['id']: category['name'] for category in coco['categories']}
    return {(files[a['image_id']], names[a['category_id']], tuple(round(v, 2) for v in a['bbox']),
             a.get('iscrowd', 0)) for a in coco['annotations']}


@requires_shared(COCO_TINY)
def test_coco_json_is_read_with_the_split_its_file_names_give():
    dataset = convert_to_coco(str(COCO_TINY))
    assert dataset.report.layout == 'COCO json'
    for split, converted in (('train', dataset.train), ('val', dataset.val)):
        original = json.loads((COCO_TINY / f'annotations/instances_{split}2017.json').read_text())
        names = {category['id']: category['name'] for category in original['categories']}
        assert dataset.classes == [names[key] for key in sorted(names)]
        assert coco_boxes(converted) == coco_boxes(original)
        assert {image['file_name'] for image in converted['images']} == {
            f'{split}2017/{image["file_name"]}' for image in original['images']}
        assert [c['id'] for c in converted['categories']] == list(range(1, 81))
    assert dataset.report.count('crowd') == sum(
        a['iscrowd'] for split in ('train', 'val') for a in json.loads(
            (COCO_TINY / f'annotations/instances_{split}2017.json').read_text())['annotations'])


def test_a_coco_box_of_an_undeclared_category_is_an_error(tmp_path):
    photo(tmp_path / 'images/a.jpg')
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations/labels.json').write_text(json.dumps(dict(
        images=[dict(id=1, file_name='a.jpg', width=64, height=48)],
        annotations=[dict(id=7, image_id=1, category_id=5, bbox=[1, 1, 10, 10], iscrowd=0)],
        categories=[dict(id=1, name='cat')])))
    with pytest.raises(DatasetError, match=r'annotations/labels.json: annotation 7 has '
                                           r'category_id 5, which its categories do not declare'):
        convert_to_coco(str(tmp_path))


def test_a_single_coco_json_is_split_and_missing_images_are_counted(tmp_path):
    for index in range(6):
        photo(tmp_path / f'images/{index}.jpg')
    (tmp_path / 'labels.json').write_text(json.dumps(dict(
        images=[dict(id=i, file_name=f'{i}.jpg', width=64, height=48) for i in range(7)],
        annotations=[dict(id=i, image_id=i, category_id=3, bbox=[1, 2, 10, 20], iscrowd=0)
                     for i in range(7)],
        categories=[dict(id=3, name='cat')])))
    dataset = convert_to_coco(str(tmp_path))
    assert len(dataset.train['images']) == 5 and len(dataset.val['images']) == 1
    assert dataset.report.count('label_without_image') == 1  # 6.jpg is not there
    assert dataset.val['annotations'][0]['bbox'] == [1, 2, 10, 20]
    assert dataset.classes == ['cat']


def boxes_by_file(dataset) -> dict:
    """{file_name: [(class name, corners)]} of both splits."""
    found = {}
    for coco in (dataset.train, dataset.val):
        names = {c['id']: c['name'] for c in coco['categories']}
        for image in coco['images']:
            found[image['file_name']] = [(names[a['category_id']], corners(a))
                                         for a in coco['annotations'] if a['image_id'] ==
                                         image['id']]
    return found


def test_voc_photos_of_one_name_keep_their_own_xml_and_stay_inside_the_folder(tmp_path):
    for folder, name, box in (('cats', 'cat', (2, 2, 11, 11)), ('dogs', 'dog', (3, 3, 21, 21))):
        photo(tmp_path / f'data/{folder}/IMG_0001.jpg')
        voc_xml(tmp_path / f'data/{folder}/IMG_0001.xml', 'IMG_0001.jpg', (64, 48),
                [(name, box, False)])
    for day in ('day', 'night'):  # the devkit's nested folders, as CVAT writes them
        photo(tmp_path / f'data/VOC/JPEGImages/{day}/a.jpg')
        voc_xml(tmp_path / f'data/VOC/Annotations/{day}/a.xml', 'a.jpg', (64, 48),
                [(day, (1, 1, 5, 5), False)])
    photo(tmp_path / 'data/VOC/SegmentationClass/day/a.png')  # not an image of the XMLs
    photo(tmp_path / 'outside/IMG_0002.jpg')  # beside the folder: not one of its images
    voc_xml(tmp_path / 'data/IMG_0002.xml', 'IMG_0002.jpg', (64, 48), [('cat', (1, 1, 5, 5),
                                                                        False)])
    dataset = convert_to_coco(str(tmp_path / 'data'))
    assert boxes_by_file(dataset) == {
        'cats/IMG_0001.jpg': [('cat', [1, 1, 10, 10])],
        'dogs/IMG_0001.jpg': [('dog', [2, 2, 20, 20])],
        'VOC/JPEGImages/day/a.jpg': [('day', [0, 0, 4, 4])],
        'VOC/JPEGImages/night/a.jpg': [('night', [0, 0, 4, 4])]}
    assert dataset.report.notes == dict(label_without_image=['IMG_0002.xml'])


def test_an_xml_that_does_not_parse_leaves_its_image_out_a_bad_object_only_itself(tmp_path):
    voc_xml(tmp_path / 'a.xml', 'a.jpg', (64, 48), [('cat', (1, 1, 5, 5), False),
                                                   ('cat', (1, 1, '', 5), False)])
    (tmp_path / 'b.xml').write_text('<annotation><object>')
    for stem in 'abc':  # c.jpg has no XML: a negative
        photo(tmp_path / f'{stem}.jpg')
    dataset = convert_to_coco(str(tmp_path))
    assert boxes_by_file(dataset) == {'a.jpg': [('cat', [0, 0, 4, 4])], 'c.jpg': []}
    assert dataset.report.notes == dict(unreadable_object=['a.xml'], unreadable_xml=['b.xml'],
                                        image_without_labels=['c.jpg'])


def test_split_lists_name_an_image_a_line_and_say_which_are_missing(tmp_path):
    devkit = tmp_path / 'voc'
    for stem in ('my cat 1', 'my cat 2'):
        photo(devkit / f'JPEGImages/{stem}.jpg')
        voc_xml(devkit / f'Annotations/{stem}.xml', f'{stem}.jpg', (64, 48),
                [('cat', (1, 1, 5, 5), False)])
    (devkit / 'ImageSets/Main').mkdir(parents=True)
    (devkit / 'ImageSets/Main/train.txt').write_text('my cat 1\nmy cat 3\n')
    (devkit / 'ImageSets/Main/val.txt').write_text('my cat 2\n')
    dataset = convert_to_coco(str(devkit))
    assert [i['file_name'] for i in dataset.val['images']] == ['JPEGImages/my cat 2.jpg']
    assert [i['file_name'] for i in dataset.train['images']] == ['JPEGImages/my cat 1.jpg']
    assert dataset.report.notes == dict(missing_image=['ImageSets/Main/train.txt: my cat 3'])

    yolo = tmp_path / 'yolo'
    yolo_dataset(yolo, {'my photo 1': '0 0.5 0.5 0.1 0.1\n'})
    (yolo / 'train.txt').write_text('./images/train/my photo 1.jpg\n./images/train/gone.jpg\n')
    (yolo / 'data.yaml').write_text('train: train.txt\nval: images/val\nnames: [cat]\n')
    dataset = convert_to_coco(str(yolo))
    assert [i['file_name'] for i in dataset.train['images']] == ['images/train/my photo 1.jpg']
    assert dataset.report.notes == dict(missing_image=['images/train/gone.jpg'])


@pytest.mark.parametrize('text, message', [
    ('names: [cat, dog\n', r"data.yaml: not valid YAML: line 2: expected ',' or ']'"),
    ('just a line\n', r'data.yaml: not a mapping of names, train and val \(it holds str\)$')])
def test_a_data_yaml_that_does_not_read_is_one_error(tmp_path, text, message):
    yolo_dataset(tmp_path, {'a': '0 0.5 0.5 0.1 0.1\n'})
    (tmp_path / 'data.yaml').write_text(text)
    with pytest.raises(DatasetError, match=message):
        convert_to_coco(str(tmp_path))


def coco_file(root, image=None, annotation=None, category=None):
    """``root/annotations/labels.json`` of one image, box and category, each with ``None``
    values left out."""
    def given(item, default):
        return {k: v for k, v in {**default, **(item or {})}.items() if v is not None}
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    (root / 'annotations/labels.json').write_text(json.dumps(dict(
        images=[given(image, dict(id=1, file_name='a.jpg', width=64, height=48))],
        annotations=[given(annotation, dict(id=7, image_id=1, category_id=1,
                                            bbox=[1, 1, 10, 10]))],
        categories=[given(category, dict(id=1, name='cat'))])))


@pytest.mark.parametrize('missing, message', [
    (dict(annotation=dict(bbox=None)), 'annotation 7 has no bbox'),
    (dict(annotation=dict(image_id=None)), 'annotation 7 has no image_id'),
    (dict(image=dict(file_name=None)), 'image 1 has no file_name'),
    (dict(category=dict(name=None)), 'category 1 has no name'),
    (dict(annotation=dict(bbox=[1, 1, 10])), r'annotation 7 has bbox \[1, 1, 10\], not \[x, y, '
                                             r'width, height\]')])
def test_a_coco_json_without_a_field_it_needs_is_one_error(tmp_path, missing, message):
    photo(tmp_path / 'images/a.jpg')
    coco_file(tmp_path, **missing)
    with pytest.raises(DatasetError, match=f'^annotations/labels.json: {message}$'):
        convert_to_coco(str(tmp_path))


def test_coco_windows_file_names_and_a_width_without_height_are_read(tmp_path):
    photo(tmp_path / 'images/a.jpg')
    coco_file(tmp_path, image=dict(file_name='images\\a.jpg', height=None))
    dataset = convert_to_coco(str(tmp_path))
    assert boxes_by_file(dataset) == {'images/a.jpg': [('cat', [1, 1, 11, 11])]}
    assert dataset.report.notes == {}


def test_label_studio_yolo_reads_and_a_classes_txt_leaves_voc_xml_read(tmp_path):
    studio = tmp_path / 'studio'  # Label Studio's YOLO export
    photo(studio / 'images/a.jpg')
    (studio / 'labels').mkdir()
    (studio / 'labels/a.txt').write_text('0 0.5 0.5 0.5 0.5\n')
    (studio / 'classes.txt').write_text('cat\n')
    (studio / 'notes.json').write_text('{"categories": [{"id": 0, "name": "cat"}]}')
    dataset = convert_to_coco(str(studio))
    assert boxes_by_file(dataset) == {'images/a.jpg': [('cat', [16, 12, 48, 36])]}

    voc = tmp_path / 'voc'
    photo(voc / 'JPEGImages/a.jpg')
    voc_xml(voc / 'Annotations/a.xml', 'a.jpg', (64, 48), [('cat', (2, 2, 11, 11), False)])
    (voc / 'classes.txt').write_text('cat\n')
    dataset = convert_to_coco(str(voc))
    assert dataset.report.layout == 'Pascal VOC XML' and dataset.report.notes == {}
    assert boxes_by_file(dataset) == {'JPEGImages/a.jpg': [('cat', [1, 1, 10, 10])]}

    labelimg = tmp_path / 'labelimg'  # LabelImg's YOLO files beside a stray .xml of no image
    photo(labelimg / 'a.jpg')
    (labelimg / 'a.txt').write_text('0 0.5 0.5 0.5 0.5\n')
    (labelimg / 'classes.txt').write_text('cat\n')
    (labelimg / 'settings.xml').write_text('<settings/>')
    dataset = convert_to_coco(str(labelimg))
    assert dataset.report.layout == 'the YOLO layout (classes.txt)'
    assert boxes_by_file(dataset) == {'a.jpg': [('cat', [16, 12, 48, 36])]}


def test_a_second_run_reads_the_xml_not_the_json_the_first_wrote_beside_it(tmp_path):
    photo(tmp_path / 'images/a.jpg')
    voc_xml(tmp_path / 'annotations/a.xml', 'a.jpg', (64, 48), [('cat', (2, 2, 11, 11), False)])
    write_coco(convert_to_coco(str(tmp_path)), str(tmp_path / 'annotations'))
    voc_xml(tmp_path / 'annotations/a.xml', 'a.jpg', (64, 48), [('dog', (2, 2, 11, 11), False)])
    dataset = convert_to_coco(str(tmp_path))
    assert boxes_by_file(dataset) == {'images/a.jpg': [('dog', [1, 1, 10, 10])]}
    (tmp_path / 'annotations/a.xml').unlink()  # the json alone: read
    assert convert_to_coco(str(tmp_path)).report.layout == 'COCO json'


@pytest.mark.parametrize('names, classes', [('names: [car, car, bus]', None),
                                            ('names: [car, bus]', ['car', 'bus', 'car'])])
def test_a_class_named_twice_is_one_error(tmp_path, names, classes):
    yolo_dataset(tmp_path, {'a': '0 0.5 0.5 0.1 0.1\n'}, names=names)
    with pytest.raises(DatasetError, match=r'car named more than once in the '):
        convert_to_coco(str(tmp_path), classes)


def test_nan_and_inf_in_a_yolo_line_leave_the_line_out(tmp_path):
    yolo_dataset(tmp_path, {'a': '0 nan 0.5 0.1 0.1\ninf 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.5 inf\n'
                                 '0 0.5 0.5 0.5 0.5\n'})
    dataset = convert_to_coco(str(tmp_path))
    assert dataset.report.notes['malformed_line'] == [
        f'labels/{split}/a.txt:{line}' for split in ('train', 'val') for line in (1, 2, 3)]
    json.loads(json.dumps(dataset.train, allow_nan=False))
    assert [corners(a) for a in dataset.train['annotations']] == [[16, 12, 48, 36]]


def test_an_image_over_pillows_pixel_limit_is_left_out_counted(tmp_path, monkeypatch):
    yolo_dataset(tmp_path, {'a': '0 0.5 0.5 0.1 0.1\n'})
    photo(tmp_path / 'images/train/big.jpg', 200, 100)
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 64 * 48)  # over twice that: a bomb
    dataset = convert_to_coco(str(tmp_path))
    assert dataset.report.notes['unreadable_image'] == ['images/train/big.jpg']
