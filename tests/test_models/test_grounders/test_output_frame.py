"""Predictions in the network's frame (``test_cfg.rescale=False``), as
ReLA and InstanceVG score them: for every grounder the masks are the
logits thresholded at ``img_shape`` (no trip through ``ori_shape``), and
the shared helpers move masks and boxes between the frames by hand."""

import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from mmengine.model import BaseModel
from mmengine.structures import InstanceData, PixelData

from mmgres.evaluation.metrics import GRESMetric
from mmgres.models.grounders import GroundingTTAModel
from mmgres.models.utils.output_frame import (
    boxes_to_frame,
    mask_logits_to_frame,
    points_to_frame,
    resolve_rescale,
)
from mmgres.registry import MODELS

from ..gsva_utils import same_image_batch, tiny_gsva_cfg
from ..igvg_utils import fake_batch as igvg_batch
from ..igvg_utils import tiny_igvg_cfg
from ..instalign_utils import fake_batch as instalign_batch
from ..instalign_utils import tiny_instalign_cfg
from ..raam_utils import fake_batch as raam_batch
from ..raam_utils import tiny_raam_cfg

IMG = (48, 56)  # the image inside the 64x64 padded input
ORI = (96, 70)  # its original size
SCALE = (56 / 70, 48 / 96)  # scale_factor (sx, sy) = (0.8, 0.5)


def _frames(batch):
    """The fake batch as a resized image: img_shape 48x56 padded to 64x64,
    from a 96x70 original."""
    inputs, samples = batch
    for s in samples:
        s.set_metainfo(dict(img_shape=IMG, ori_shape=ORI, scale_factor=SCALE))
    return inputs, samples


def _run(model, batch, mode='predict', **kwargs):
    inputs, samples = batch
    data = model.data_preprocessor(
        dict(inputs=inputs, data_samples=samples), False
    )
    with torch.no_grad():
        if kwargs:  # predict's own arguments (mmdet's rescale)
            return model.predict(
                data['inputs'], data['data_samples'], **kwargs
            )
        return model(**data, mode=mode)


def _at_img_shape(logits, thr):
    """Independent rule: (K, h, w) logits bilinear to the 64x64 input,
    crop the image, threshold the sigmoid."""
    up = F.interpolate(
        logits[:, None].float(), size=(64, 64), mode='bilinear'
    )[:, 0, : IMG[0], : IMG[1]]
    return up.sigmoid() > thr


# --------------------------------------------------------------- helpers
def test_resolve_rescale():
    assert resolve_rescale(None) == (True, True)
    assert resolve_rescale(dict(rescale=False)) == (False, False)
    assert resolve_rescale(dict(rescale=False, rescale_boxes=True)) == (
        False,
        True,
    )
    # predict's own argument (mmdet's) wins over the config
    assert resolve_rescale(dict(rescale=False), rescale=True) == (True, True)
    with pytest.raises(TypeError, match='test_cfg.rescale must be'):
        resolve_rescale(dict(rescale='no'))


def test_boxes_and_points_between_frames_by_hand():
    meta = dict(img_shape=IMG, ori_shape=ORI, scale_factor=SCALE)
    box = torch.tensor([[8.0, 6.0, 56.0, 24.0]])
    # x / 0.8, y / 0.5: (10, 12, 70, 48)
    out = boxes_to_frame(box, meta, False, True)
    torch.testing.assert_close(out, torch.tensor([[10.0, 12.0, 70.0, 48.0]]))
    torch.testing.assert_close(boxes_to_frame(out, meta, True, False), box)
    assert boxes_to_frame(box, meta, False, False) is box
    # clipped to the destination frame
    big = torch.tensor([[-4.0, 0.0, 60.0, 50.0]])
    torch.testing.assert_close(
        boxes_to_frame(big, meta, False, True),
        torch.tensor([[0.0, 0.0, 70.0, 96.0]]),
    )
    pts = torch.tensor([[4.0, 5.0]])
    torch.testing.assert_close(
        points_to_frame(pts, meta, False, True), torch.tensor([[5.0, 10.0]])
    )


def test_mask_logits_to_frame_by_hand():
    # a 2x2 logit map over a 4x4 padded input whose image is 2x4 (rows 0-1)
    logits = torch.tensor([[[4.0, -4.0], [-4.0, -4.0]]])
    meta = dict(img_shape=(2, 4), ori_shape=(4, 8))
    # bilinear 2x2 -> 4x4 (align_corners=False), rows 0-1 kept: the top-left
    # 2x2 block is > 0 (values 4, 2 / 2, 1), the rest <= 0
    out = mask_logits_to_frame(logits, meta, (4, 4), False, 0.5)
    expected = torch.tensor(
        [[True, True, False, False], [True, True, False, False]]
    )
    assert out.shape == (1, 2, 4)
    assert torch.equal(out[0], expected)
    assert mask_logits_to_frame(logits, meta, (4, 4), True, 0.5).shape == (
        1,
        4,
        8,
    )
    with pytest.raises(ValueError, match=r'\(K, h, w\)'):
        mask_logits_to_frame(logits[0], meta, (4, 4), False, 0.5)


# -------------------------------------------------------------- grounders
def test_instalign_rescale_off_thresholds_at_img_shape():
    torch.manual_seed(0)
    cfg = tiny_instalign_cfg()
    cfg.test_cfg.update(rescale=False, score_thr=0.0)
    model = MODELS.build(cfg).eval()
    out = _run(model, _frames(instalign_batch()))
    outs = _run(model, _frames(instalign_batch()), mode='tensor')
    # IA at the 64x64 input (the upsampling in _at_img_shape is then none)
    merged = model.head.merged_logits(
        outs['rel'][-1], outs['masks'][-1], (64, 64)
    )
    expected = _at_img_shape(merged, 0.5)
    for i, s in enumerate(out):
        raw = s.get('pred_sem_seg_raw', s.pred_sem_seg)
        assert raw.data.shape == (1, *IMG)
        assert torch.equal(raw.data[0], expected[i])
        inst = s.get('pred_instances_raw', s.pred_instances)
        assert inst.masks.shape[1:] == IMG
        # the boxes are the masks' boxes in the same frame
        assert (inst.bboxes[:, 2] <= IMG[1]).all()
        assert (inst.bboxes[:, 3] <= IMG[0]).all()
    # rescale on (the default, and predict's argument over the config)
    out = _run(model, _frames(instalign_batch()), rescale=True)
    assert all(s.pred_sem_seg.data.shape == (1, *ORI) for s in out)


def test_igvg_rescale_off_thresholds_at_img_shape():
    torch.manual_seed(0)
    cfg = tiny_igvg_cfg()
    cfg.test_cfg.update(rescale=False, score_thr=-1.0, nt_rule='classifier')
    model = MODELS.build(cfg).eval()
    out = _run(model, _frames(igvg_batch()))
    outs = _run(model, _frames(igvg_batch()), mode='tensor')
    for i, s in enumerate(out):
        inst = s.get('pred_instances_raw', s.pred_instances)
        q = inst.query_inds
        assert len(q) > 0
        masks = _at_img_shape(outs['mask_preds'][i, q], 0.5)
        assert torch.equal(inst.masks, masks)
        glob = _at_img_shape(outs['global_mask'][i], 0.5)[0]
        raw = s.get('pred_sem_seg_raw', s.pred_sem_seg)
        assert torch.equal(raw.data[0], glob | masks.any(0))
    # boxes alone back in the original frame: the same boxes / scale
    model.test_cfg['rescale_boxes'] = True
    out2 = _run(model, _frames(igvg_batch()))
    for s, s2 in zip(out, out2):
        a = s.get('pred_instances_raw', s.pred_instances)
        b = s2.get('pred_instances_raw', s2.pred_instances)
        assert b.masks.shape[1:] == IMG
        sf = torch.tensor(SCALE)
        torch.testing.assert_close(b.bboxes, a.bboxes / sf.repeat(2))
        torch.testing.assert_close(s2.pred_points, s.pred_points / sf)


@pytest.mark.parametrize('mode', ['gres', 'rec'])
def test_raam_rescale_off_thresholds_at_img_shape(mode):
    torch.manual_seed(0)
    cfg = tiny_raam_cfg(mode)
    cfg.test_cfg.update(rescale=False, presence_thr=0.0)
    model = MODELS.build(cfg).eval()
    out = _run(model, _frames(raam_batch()))
    outs = _run(model, _frames(raam_batch()), mode='tensor')
    for i, s in enumerate(out):
        assert s.pred_sem_seg.data.shape == (1, *IMG)
        box = s.pred_instances.bboxes[0]
        assert box[2] <= IMG[1] and box[3] <= IMG[0]
        if mode == 'gres':
            expected = _at_img_shape(outs['masks'][i], 0.5)[0]
            assert torch.equal(s.pred_sem_seg.data[0], expected)
            assert torch.equal(s.pred_instances.masks[0], expected)
    out = _run(model, _frames(raam_batch()), rescale=True)
    assert all(s.pred_sem_seg.data.shape == (1, *ORI) for s in out)


def test_gsva_rescale_off_thresholds_at_img_shape():
    torch.manual_seed(0)
    model = MODELS.build(
        tiny_gsva_cfg(test_cfg=dict(mode='teacher_forced', rescale=False))
    ).eval()
    # the low-resolution logits the mask head gives the prediction
    low = []
    handle = model.mask_head.register_forward_hook(
        lambda m, i, o: low.append(o)
    )
    out = _run(model, _frames(same_image_batch()))
    handle.remove()
    (low,) = low
    s_in = model.mask_head.segmentor.image_size
    # SAM's content of a 48x56 image in its square input
    scale = s_in / max(IMG)
    size = (int(IMG[0] * scale + 0.5), int(IMG[1] * scale + 0.5))
    # teacher-forced: every slot is decoded, in batch order
    seg = list(range(len(out)))
    assert len(seg) == len(low)
    for k, logits in zip(seg, low):
        up = F.interpolate(
            logits[None, None].float(), size=(s_in, s_in), mode='bilinear'
        )[..., : size[0], : size[1]]
        up = F.interpolate(up, size=IMG, mode='bilinear')[0, 0]
        record = out[k].pred_slot_sem_seg.data[0]
        assert record.shape == IMG
        assert torch.equal(record, up > 0.0)
    out = _run(model, _frames(same_image_batch()), rescale=True)
    assert all(s.pred_sem_seg.data.shape == (1, *ORI) for s in out)


# ------------------------------------------------------------- TTA, metric
def _view(flip, shape):
    s = DetDataSample(
        metainfo=dict(
            img_shape=shape,
            ori_shape=ORI,
            scale_factor=SCALE,
            flip=flip,
            flip_direction='horizontal' if flip else None,
        )
    )
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[:, :2] = True
    if flip:
        mask = mask.flip(-1)
    s.pred_sem_seg = PixelData(data=mask[None])
    w = shape[1]
    box = [w - 2.0, 0.0, w, shape[0]] if flip else [0.0, 0.0, 2.0, shape[0]]
    s.pred_instances = InstanceData(
        masks=mask[None],
        bboxes=torch.tensor([box]),
        scores=torch.tensor([0.9]),
        labels=torch.zeros(1, dtype=torch.long),
    )
    s.pred_no_target = False
    s.pred_nt_score = 0.1
    return s


def test_tta_in_the_img_shape_frame():
    class _Grounder(BaseModel):
        """Only its frames are read; merge_preds never runs it."""

        test_cfg = dict(rescale=False)

        def output_frames(self):
            return resolve_rescale(self.test_cfg)

        def forward(self, *args, **kwargs):
            raise AssertionError('not called by merge_preds')

    tta = GroundingTTAModel(module=_Grounder())
    (out,) = tta.merge_preds([[_view(False, IMG), _view(True, IMG)]])
    assert out.pred_sem_seg.data.shape == (1, *IMG)
    assert out.pred_sem_seg.data[0, :, :2].all()
    assert not out.pred_sem_seg.data[0, :, 2:].any()
    # the flipped box is flipped back in the 56-wide frame: one box left
    assert len(out.pred_instances) == 1
    torch.testing.assert_close(
        out.pred_instances.bboxes, torch.tensor([[0.0, 0.0, 2.0, 48.0]])
    )
    with pytest.raises(ValueError, match='test_cfg.rescale=True'):
        tta.merge_preds([[_view(False, IMG), _view(True, (40, 56))]])


def test_gres_metric_uses_an_img_shape_prediction_as_is():
    """A 2x4 prediction at img_shape (a 4x8 original) against a 2x4
    ground truth, scored with resolution='resized': compared pixel for
    pixel, I = 2, U = 6."""
    s = DetDataSample(
        metainfo=dict(img_shape=(2, 4), ori_shape=(4, 8), no_target=False)
    )
    gt = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0]], dtype=torch.bool)
    pred = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 0]], dtype=torch.bool)
    s.gt_sem_seg = PixelData(data=gt[None])
    s.pred_sem_seg = PixelData(data=pred[None])
    s.pred_no_target = False
    metric = GRESMetric(resolution='resized')
    metric.process({}, [s.to_dict()])
    res = metric.compute_metrics(metric.results)
    # IoU = |{(0,1), (1,1)}| / |{cols 0-2 of both rows}| = 2 / 6
    assert res['gIoU'] == pytest.approx(100 * 2 / 6)
    assert res['cIoU'] == pytest.approx(100 * 2 / 6)


def test_grec_needs_boxes_in_the_ground_truth_frame():
    """GRECMetric compares with ground-truth boxes in the original frame
    (IGVG's pipeline): a box right in the img_shape frame misses them
    there, and is right once moved back (rescale_boxes=True)."""
    from mmgres.evaluation.metrics import GRECMetric

    meta = dict(img_shape=IMG, ori_shape=ORI, scale_factor=SCALE)
    gt = torch.tensor([[10.0, 12.0, 70.0, 48.0]])  # original frame
    in_img = torch.tensor([[8.0, 6.0, 56.0, 24.0]])  # the same box, resized

    def f1(box):
        s = DetDataSample(metainfo=dict(no_target=False, **meta))
        s.gt_instances = InstanceData(bboxes=gt)
        s.pred_instances = InstanceData(bboxes=box, scores=torch.tensor([0.9]))
        metric = GRECMetric(iou_thrs=(0.5,))
        metric.process({}, [s.to_dict()])
        return metric.compute_metrics(metric.results)['F1score@0.5']

    # in the img_shape frame: GIoU <= IoU = 46 * 12 / 2472 < 0.5
    assert f1(in_img) == 0.0
    assert f1(boxes_to_frame(in_img, meta, False, True)) == 100.0
