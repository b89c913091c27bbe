# Copyright (c) mmgres contributors. All rights reserved.
"""User-facing inference: images and referring expressions in, masks out."""

import copy
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Union

import mmcv
import mmengine
import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.apis import DetInferencer
from mmengine.registry import FUNCTIONS
from pycocotools import mask as mask_utils

from mmgres.utils import register_all_modules

ImgType = Union[str, np.ndarray]
TextsType = Union[str, Sequence[str], Sequence[Sequence[str]]]


def encode_rle(mask: Union[np.ndarray, torch.Tensor]) -> dict:
    """COCO RLE of a binary mask (H, W), with ``counts`` as a str."""
    if isinstance(mask, torch.Tensor):
        mask = mask.cpu().numpy()
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def _to_bgr3(img: np.ndarray) -> np.ndarray:
    """Grey (H, W) / (H, W, 1) and RGBA/BGRA (H, W, 4) arrays → (H, W, 3)."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3:
        raise ValueError(
            f'An image array must be (H, W[, C]); got {img.shape}'
        )
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    elif img.shape[2] != 3:
        raise ValueError(
            f'An image must have 1, 3 or 4 channels; got {img.shape}'
        )
    return np.ascontiguousarray(img)


class GroundingInferencer(DetInferencer):
    """Ground referring expressions in images.

    ``inferencer(imgs, texts=...)`` takes one expression per image, the same
    expression for every image, or several expressions per image, and
    batches the (image, expression) pairs.

    Example:
        >>> inferencer = GroundingInferencer(
        ...     'configs/instalign/'
        ...     'instalign_tiny_1xb8-8e_synthetic-grefcoco.py',
        ...     weights='work_dirs/quickstart/epoch_8.pth')
        >>> out = inferencer('demo.jpg', texts=['the red circles', 'a dog'])
        >>> out['predictions'][0][1]['no_target']
        True

    Each prediction is a dict: ``text``, ``no_target`` (bool), ``nt_score``
    (float), ``merged_mask`` (COCO RLE of the merged mask) and
    ``instances`` (list of ``mask`` (RLE), ``bbox`` (xyxy) and ``score``),
    in the original image frame; point-guided models (IGVG) add
    ``points``, their selected reference points as ``[x, y]``.

    Dialogue models (GSVA, which has ``group_dialogues``) are asked about
    all the expressions of an image at once, in one batch, which the model
    turns into one dialogue (up to its ``test_cfg.max_expressions``); their
    predictions add ``answer``, the text the model wrote (e.g. ``'Sure, the
    red circle:[SEG], a dog:[REJ].'``). A model whose ``test_cfg.mode`` is
    ``'teacher_forced'`` (a benchmark protocol that reads the ground truth)
    is switched to ``'generate'``.

    Args:
        model (str, optional): Config path or name.
        weights (str, optional): Checkpoint path.
        device (str, optional): Device; the default is CUDA if available.
        scope (str): Registry scope. Defaults to ``'mmgres'``.
        palette (str): Colour palette for drawings.
        show_progress (bool): Show a progress bar. Defaults to False.
    """

    def __init__(
        self,
        model: Optional[str] = None,
        weights: Optional[str] = None,
        device: Optional[str] = None,
        scope: str = 'mmgres',
        palette: str = 'none',
        show_progress: bool = False,
    ) -> None:
        register_all_modules(init_default_scope=False)
        super().__init__(
            model=model,
            weights=weights,
            device=device,
            scope=scope,
            palette=palette,
            show_progress=show_progress,
        )
        self._warned_long = False
        test_cfg = getattr(self.model, 'test_cfg', None)
        if isinstance(test_cfg, dict) and (
            test_cfg.get('mode') == 'teacher_forced'
        ):
            # no ground truth here: the model writes its own answer
            test_cfg['mode'] = 'generate'

    def _init_pipeline(self, cfg) -> Compose:
        """The test pipeline without ground-truth loading; images may be
        paths or arrays."""
        pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
        pipeline = [
            t for t in pipeline if t['type'] != 'LoadReferringAnnotations'
        ]
        idx = self._get_transform_idx(pipeline, ('LoadImageFromFile',))
        if idx == -1:
            raise ValueError('LoadImageFromFile is not in the test pipeline')
        pipeline[idx]['type'] = 'mmdet.InferencerLoader'
        return Compose(pipeline)

    def _init_collate(self, cfg):
        """The test dataloader's collate function; configs give it as
        ``dict(type=...)``, which mmengine's inferencer does not read."""
        collate = cfg.get('test_dataloader', {}).get('collate_fn')
        if isinstance(collate, dict):
            # collate functions live in mmengine's FUNCTIONS registry
            return FUNCTIONS.get(collate['type'])
        return super()._init_collate(cfg)

    # ------------------------------------------------------------------ #
    def _check_text(self, text, where: str) -> str:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f'Empty referring expression for {where}.')
        encoder = getattr(self.model, 'text_encoder', None)
        max_len = getattr(encoder, 'max_length', None)
        if max_len and not self._warned_long:
            n = len(encoder.tokenizer(text)['input_ids'])
            if n > max_len:
                warnings.warn(
                    f'The expression for {where} has {n} tokens; it is '
                    f'truncated to max_length={max_len} (warned once).',
                    stacklevel=3,
                )
                self._warned_long = True
        return text

    def _pairs(self, imgs: List[ImgType], texts: TextsType) -> List[dict]:
        n = len(imgs)
        if isinstance(texts, str):
            per_image = [[texts]] * n
        else:
            texts = list(texts)
            if len(texts) != n:
                raise ValueError(
                    f'Got {n} images but {len(texts)} entries in `texts`; '
                    'give one expression (or one list of expressions) per '
                    'image, or a single string for all.'
                )
            per_image = [[t] if isinstance(t, str) else list(t) for t in texts]
        pairs = []
        for i, (img, img_texts) in enumerate(zip(imgs, per_image)):
            name = img if isinstance(img, str) else f'image #{i}'
            if not img_texts:
                raise ValueError(f'No expression given for {name}.')
            if isinstance(img, np.ndarray):
                img = _to_bgr3(img)
            elif isinstance(img, str):
                if not osp.isfile(img) and '://' not in img:
                    raise FileNotFoundError(f'Image file not found: {img}')
            else:
                raise TypeError(f'Unsupported image input {type(img)}')
            for j, text in enumerate(img_texts):
                text = self._check_text(text, f'{name}, expression {j}')
                key = 'img_path' if isinstance(img, str) else 'img'
                pairs.append({key: img, 'text': text, '_pos': (i, j)})
        return pairs

    def __call__(
        self,
        inputs: Union[ImgType, Sequence[ImgType]],
        texts: TextsType,
        batch_size: int = 1,
        return_vis: bool = False,
        show: bool = False,
        wait_time: float = 0,
        out_dir: str = '',
        no_save_vis: bool = False,
        pred_score_thr: float = 0.5,
        return_datasamples: bool = False,
        **kwargs,
    ) -> Dict[str, list]:
        """Run inference.

        Args:
            inputs (str | ndarray | list): Image paths or BGR arrays (grey
                and RGBA arrays are accepted).
            texts (str | list[str] | list[list[str]]): One expression for
                all images, one per image, or a list per image.
            batch_size (int): Pairs per forward pass.
            return_vis (bool): Return the drawings.
            show (bool): Show the drawings in a window.
            wait_time (float): Seconds each drawing is shown.
            out_dir (str): Save drawings to ``out_dir/vis``.
            no_save_vis (bool): Never save drawings.
            pred_score_thr (float): Instances drawn above this score.
            return_datasamples (bool): Return ``DetDataSample``s instead of
                dicts.

        Returns:
            dict: ``predictions[i][j]`` for image i and its expression j,
            and ``visualization`` (same nesting) when drawings were made.
        """
        imgs = self._inputs_to_list(inputs)
        pairs = self._pairs(imgs, texts)
        n_texts = [0] * len(imgs)
        for p in pairs:
            n_texts[p['_pos'][0]] += 1
        predictions = [[None] * k for k in n_texts]
        drawings = [[None] * k for k in n_texts]
        any_vis = False
        for chunk in self._batches(pairs, batch_size):
            data = self.collate_fn(
                [
                    self.pipeline({k: v for k, v in p.items() if k != '_pos'})
                    for p in chunk
                ]
            )
            preds = self.forward(data)
            for p, pred in zip(chunk, preds):
                i, j = p['_pos']
                predictions[i][j] = (
                    pred if return_datasamples else self.pred2dict(pred)
                )
                if return_vis or show or (out_dir and not no_save_vis):
                    any_vis = True
                    drawings[i][j] = self._draw(
                        p,
                        pred,
                        i,
                        j,
                        show,
                        wait_time,
                        out_dir,
                        no_save_vis,
                        pred_score_thr,
                    )
        return dict(
            predictions=predictions,
            visualization=drawings if any_vis else [],
        )

    def _batches(self, pairs: List[dict], batch_size: int) -> List[list]:
        """Consecutive pairs in batches of ``batch_size``; for dialogue
        models, one batch per image with all its expressions."""
        if not hasattr(self.model, 'group_dialogues'):
            return [
                pairs[k : k + batch_size]
                for k in range(0, len(pairs), batch_size)
            ]
        batches: Dict[int, list] = {}
        for p in pairs:
            batches.setdefault(p['_pos'][0], []).append(p)
        return list(batches.values())

    def _draw(
        self,
        pair,
        pred,
        i,
        j,
        show,
        wait_time,
        out_dir,
        no_save_vis,
        pred_score_thr,
    ) -> np.ndarray:
        if 'img_path' in pair:
            img = mmcv.imfrombytes(
                mmengine.fileio.get(pair['img_path']), channel_order='rgb'
            )
            stem = osp.splitext(osp.basename(pair['img_path']))[0]
        else:
            img = pair['img'][:, :, ::-1]
            stem = f'{i:08d}'
        name = f'{stem}_{j}.jpg'
        out_file = (
            osp.join(out_dir, 'vis', name)
            if out_dir and not no_save_vis
            else None
        )
        self.visualizer.add_datasample(
            name,
            img,
            pred,
            show=show,
            wait_time=wait_time,
            draw_gt=False,
            draw_pred=True,
            pred_score_thr=pred_score_thr,
            out_file=out_file,
        )
        return self.visualizer.get_image()

    def pred2dict(self, data_sample, pred_out_dir: str = '') -> dict:
        """A data sample's prediction as plain Python (RLE masks)."""
        inst = data_sample.pred_instances
        instances = []
        for k in range(len(inst)):
            instances.append(
                dict(
                    mask=encode_rle(inst.masks[k]),
                    bbox=[float(v) for v in inst.bboxes[k]],
                    score=float(inst.scores[k]),
                )
            )
        out = dict(
            text=data_sample.metainfo.get('text'),
            no_target=bool(data_sample.pred_no_target),
            nt_score=float(data_sample.pred_nt_score),
            merged_mask=encode_rle(data_sample.pred_sem_seg.data[0]),
            instances=instances,
        )
        if 'pred_answer' in data_sample.metainfo:  # dialogue models (GSVA)
            out['answer'] = data_sample.metainfo['pred_answer']
        if 'pred_points' in data_sample:  # point-guided models (IGVG)
            out['points'] = [
                [float(x), float(y)] for x, y in data_sample.pred_points
            ]
        return out
