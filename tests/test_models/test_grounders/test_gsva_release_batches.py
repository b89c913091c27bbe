"""The GSVA release config evaluated end to end on a tiny model: its test
dataloader (ImageShardSampler + ImageBatchSampler) gives the model one
image with all its expressions per batch, the release protocol asks about
them in one dialogue, and the metric gets every sample exactly once, on
one rank and on two."""

import re
from itertools import chain, zip_longest

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmgres.datasets import generate_synthetic_grefcoco
from mmgres.datasets.samplers import image_batch_sampler as sampler_module
from mmgres.registry import METRICS, MODELS

from ..gsva_utils import tiny_gsva_cfg

RELEASE = 'configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco_release.py'


@pytest.fixture(scope='module')
def cfg(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_grefcoco'))
    generate_synthetic_grefcoco(
        root,
        num_images=dict(val=4),
        img_size=32,
        sentences_per_image=(2, 4),
        progress=False,
    )
    cfg = Config.fromfile(RELEASE)
    loader = cfg.test_dataloader
    loader.dataset.update(data_root=root, data_prefix=dict(img_path='images/'))
    # the tiny towers' sizes: a 32-pixel CLIP input, a 64-pixel SAM frame
    loader.dataset.pipeline[1].update(size=32, crop_size=32)
    loader.dataset.pipeline[2].update(scale=(64, 64))
    loader.update(num_workers=0, persistent_workers=False)
    return cfg


@pytest.fixture(scope='module')
def model(cfg):
    torch.manual_seed(0)
    gsva = tiny_gsva_cfg()
    gsva['mllm'].update(image_start_end=True)
    gsva['conversation'] = cfg.model.conversation.to_dict()
    gsva['test_cfg'] = cfg.model.test_cfg.to_dict()
    # a module fixture runs before the conftest's per-test scope
    with DefaultScope.overwrite_default_scope('mmgres'):
        return MODELS.build(gsva).eval()


def _evaluate(cfg, model):
    """Run the test dataloader through the model into the config's metric;
    return the batches' samples and the metric."""
    loader = Runner.build_dataloader(cfg.test_dataloader.to_dict(), seed=0)
    metric = METRICS.build(cfg.test_evaluator.to_dict())
    batches = []
    with torch.no_grad():
        for data in loader:
            out = model.test_step(data)
            metric.process(data, out)
            batches.append(out)
    return loader.dataset, batches, metric


def test_one_dialogue_per_image(cfg, model):
    dataset, batches, metric = _evaluate(cfg, model)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    images = list(dict.fromkeys(info['img_id'] for info in infos))
    assert len(images) == 4 and len(dataset) >= 8
    assert len(batches) == len(images)
    for out, img_id in zip(batches, images):
        # all of the image's expressions, in dataset order, in one batch
        expected = [
            (info['ref_id'], info['sent_id'])
            for info in infos
            if info['img_id'] == img_id
        ]
        got = [(s.ref_id, s.sent_id) for s in out]
        assert got == expected and len(got) >= 2
        # ... asked about in one dialogue, as the release writes it:
        # "Sure,e1:[SEG], e2:[REJ]." (expressions lower-cased, stripped
        # of periods), one slot per expression
        texts = [s.text.strip().strip('.').lower() for s in out]
        answer = out[0].pred_answer
        pattern = (
            'Sure,'
            + ', '.join(re.escape(t) + r':\[(SEG|REJ)\]' for t in texts)
            + r'\.'
        )
        assert re.fullmatch(pattern, answer), answer
        assert all(s.pred_answer == answer for s in out)
    # the metric got every sample once
    assert len(metric.results) == len(dataset)
    metrics = metric.evaluate(len(dataset))
    assert set(metrics) >= {'gres/gIoU', 'gres/cIoU', 'gres/N_acc'}


def test_two_ranks_same_metrics(cfg, model, monkeypatch):
    dataset, _, metric = _evaluate(cfg, model)
    single = metric.compute_metrics(list(metric.results))
    parts, seen = [], []
    for rank in (0, 1):
        monkeypatch.setattr(
            sampler_module, 'get_dist_info', lambda r=rank: (r, 2)
        )
        _, batches, part = _evaluate(cfg, model)
        parts.append(part.results)
        seen.append([s.sent_id for out in batches for s in out])
    # whole images per rank, disjoint and complete
    sent_ids = [
        dataset.get_data_info(i)['sent_id'] for i in range(len(dataset))
    ]
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted(sent_ids)
    assert seen[0] and seen[1]  # 4 images: two on each rank
    # mmengine's collect_results: zip the ranks' results, keep len(dataset)
    collected = [
        r for r in chain.from_iterable(zip_longest(*parts)) if r is not None
    ][: len(dataset)]
    assert len(collected) == len(dataset)
    assert sorted(collected) == sorted(metric.results)
    both = metric.compute_metrics(collected)
    assert both == pytest.approx(single, rel=1e-12, nan_ok=True)
