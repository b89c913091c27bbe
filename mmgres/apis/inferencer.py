# Copyright (c) mmgres contributors. All rights reserved.
"""User-facing inference: images and referring expressions in, masks out."""

import copy
import os.path as osp
import warnings
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import mmengine
import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.apis import DetInferencer
from mmengine.config import Config
from mmengine.registry import FUNCTIONS
from pycocotools import mask as mask_utils
from rich.progress import track

from mmgres.models.utils.checkpoint_coverage import set_allow_partial_load
from mmgres.utils import register_all_modules

from .model_index import find_model, list_models

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

    ``inferencer(inputs, texts=...)`` pairs every image with its
    expressions and batches the (image, expression) pairs:

    - one image and a str: that expression;
    - one image and a list of str: each expression, one prediction each;
    - N images and a str: the same expression for every image;
    - N images and a list of N entries: entry i for image i, a str (one
      expression) or a list of str (several).

    ``predictions[i][j]`` is the answer for image i and its expression j.
    A folder is its image files (by suffix) sorted by name, i.e. a list of
    images. ``texts`` may not be None or empty, and an expression may not
    be empty or only spaces.

    A model name of ``model-index.yml`` (see :meth:`list_models`) stands
    for its config. mmgres hosts no checkpoints: give ``weights``, or the
    model keeps its random initialisation (with a warning).

    Example:
        >>> from mmgres.apis import GroundingInferencer
        >>> inferencer = GroundingInferencer(
        ...     'instalign_tiny_1xb8-8e_synthetic-grefcoco',
        ...     weights='work_dirs/instalign_tiny/epoch_8.pth')
        Loads checkpoint by ... from path: work_dirs/instalign_tiny/epoch_8.pth
        >>> out = inferencer(
        ...     'demo.jpg', texts=['the red circles', 'the blue triangle'])
        >>> [p['text'] for p in out['predictions'][0]]
        ['the red circles', 'the blue triangle']
        >>> sorted(out['predictions'][0][1])
        ['instances', 'merged_mask', 'no_target', 'nt_score', 'text']

    Each prediction is a dict: ``text``, ``no_target`` (bool), ``nt_score``
    (float), ``merged_mask`` (COCO RLE of the merged mask) and
    ``instances`` (list of ``mask`` (RLE), ``bbox`` (xyxy) and ``score``),
    in the original image frame; point-guided models (IGVG) add
    ``points``, their selected reference points as ``[x, y]``. When
    ``no_target`` is True the merged mask is empty and ``instances`` is
    empty; with ``return_datasamples=True`` the model's own mask and
    instances are in ``pred_sem_seg_raw`` and ``pred_instances_raw``.

    Dialogue models (GSVA, which has ``group_dialogues``) are asked about
    all the expressions of an image at once, in one batch, which the model
    turns into one dialogue (up to its ``test_cfg.max_expressions``); their
    predictions add ``answer``, the text the model wrote (e.g. ``'Sure, the
    red circle:[SEG], a dog:[REJ].'``). A model whose ``test_cfg.mode`` is
    ``'teacher_forced'`` (a benchmark protocol that reads the ground truth)
    is switched to ``'generate'``. A model whose ``test_cfg.rescale`` (or
    ``rescale_boxes``) is False, which scores in the network's frame, is
    switched to the original frame.

    Images that cannot be read are skipped with a warning when there are
    several: their predictions are None and ``failed`` lists them with the
    reason. A single image that cannot be read raises.

    Args:
        model (str, optional): Config path, or a model name or alias of
            ``model-index.yml``.
        weights (str, optional): Checkpoint path. None: random weights.
        device (str, optional): Device; the default is CUDA if available.
        scope (str): Registry scope. Defaults to ``'mmgres'``.
        palette (str): Colour palette for drawings.
        show_progress (bool, optional): Show a progress bar over the
            batches. None (default): only when ``inputs`` is a folder.
        allow_partial_load (bool): Load ``weights`` even when they fill
            less than half of the model (see
            :func:`mmgres.models.utils.checkpoint_coverage.
            check_checkpoint_coverage`). Defaults to False.
    """

    def __init__(
        self,
        model: Optional[str] = None,
        weights: Optional[str] = None,
        device: Optional[str] = None,
        scope: str = 'mmgres',
        palette: str = 'none',
        show_progress: Optional[bool] = None,
        allow_partial_load: bool = False,
    ) -> None:
        register_all_modules(init_default_scope=False)
        self.allow_partial_load = allow_partial_load
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
        if isinstance(test_cfg, dict):
            # the outputs (masks, boxes, points, the drawings) are in the
            # original image frame; a benchmark config may score in the
            # network's frame (test_cfg.rescale=False), which a user's
            # image has no use for
            for key in ('rescale', 'rescale_boxes'):
                if key in test_cfg:
                    test_cfg[key] = True

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        """mmdet's loading; without weights, one warning that says so in
        place of mmdet's (random model, COCO class names)."""
        if checkpoint is not None:
            set_allow_partial_load(
                self.allow_partial_load
                or bool(cfg.get('allow_partial_load', False)),
                model=model,
            )
            return super()._load_weights_to_model(model, checkpoint, cfg)
        warnings.warn(
            'No weights given: the model keeps its random initialisation '
            'and its predictions are meaningless. mmgres hosts no '
            'checkpoints; pass weights=CHECKPOINT (e.g. one written by '
            'tools/train.py).',
            stacklevel=2,
        )
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            super()._load_weights_to_model(model, None, cfg)

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
        """The test dataloader's collate function. A config may give it as
        ``dict(type=..., **kwargs)``, as mmengine's Runner reads it;
        mmengine's inferencer only reads a name."""
        collate = cfg.get('test_dataloader', {}).get('collate_fn')
        if isinstance(collate, dict):
            collate = dict(collate)
            fn = collate.pop('type')
            if isinstance(fn, str):
                # collate functions live in mmengine's FUNCTIONS registry
                name, fn = fn, FUNCTIONS.get(fn)
                if fn is None:
                    raise KeyError(
                        f'test_dataloader.collate_fn: {name!r} is not a '
                        'registered function'
                    )
            return partial(fn, **collate) if collate else fn
        return super()._init_collate(cfg)

    def _load_model_from_metafile(
        self, model: str
    ) -> Tuple[Config, Optional[str]]:
        """The config (and weights, if listed) of a ``model-index.yml``
        name; mmengine's lookup only knows the official packages."""
        config, weights = find_model(model)
        return Config.fromfile(config), weights

    @staticmethod
    def list_models(patterns: str = r'.*') -> List[str]:
        """Model names and aliases of ``model-index.yml`` that match the
        regular expression ``patterns``."""
        return list_models(patterns)

    # ------------------------------------------------------------------ #
    def _inputs_to_list(self, inputs) -> list:
        """mmdet's list of inputs; a folder gives its image files sorted by
        name, so that their order does not depend on the file system."""
        if isinstance(inputs, str) and osp.isdir(inputs):
            imgs = sorted(super()._inputs_to_list(inputs))
            if not imgs:
                raise ValueError(f'No image file in the folder {inputs}')
            return imgs
        return super()._inputs_to_list(inputs)

    def _check_text(self, text, where: str) -> str:
        if not isinstance(text, str):
            raise TypeError(
                f'`texts`: the expression for {where} must be a str; got '
                f'{type(text).__name__} {text!r}.'
            )
        if not text.strip():
            raise ValueError(
                f'Empty referring expression in `texts` for {where}: {text!r}.'
            )
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

    @staticmethod
    def _texts_per_image(n: int, texts: TextsType) -> List[list]:
        """The expressions of each of ``n`` images (the contract in the
        class docstring)."""
        if texts is None:
            raise ValueError(
                '`texts` is None: give the referring expression(s), a str '
                'or a list of str for one image, or a list with one entry '
                'per image.'
            )
        if isinstance(texts, str):
            return [[texts] for _ in range(n)]
        if not isinstance(texts, (list, tuple)):
            raise TypeError(
                '`texts` must be a str, a list of str or a list of lists of '
                f'str; got {type(texts).__name__}.'
            )
        if n == 1 and not any(isinstance(t, (list, tuple)) for t in texts):
            # one image: a flat list holds its expressions
            return [list(texts)]
        if len(texts) != n:
            raise ValueError(
                f'Got {n} images but {len(texts)} entries in `texts`; give '
                'one entry (a str, or a list of str) per image, or a single '
                'str for all of them.'
            )
        per_image = []
        for i, entry in enumerate(texts):
            if isinstance(entry, str):
                per_image.append([entry])
            elif isinstance(entry, (list, tuple)):
                per_image.append(list(entry))
            else:
                raise TypeError(
                    f'`texts[{i}]` must be a str or a list of str; got '
                    f'{type(entry).__name__}.'
                )
        return per_image

    def _pairs(self, imgs: List[ImgType], texts: TextsType) -> List[dict]:
        per_image = self._texts_per_image(len(imgs), texts)
        pairs = []
        for i, (img, img_texts) in enumerate(zip(imgs, per_image)):
            name = img if isinstance(img, str) else f'image #{i}'
            if not img_texts:
                raise ValueError(f'`texts` has no expression for {name}.')
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
        texts: Optional[TextsType] = None,
        batch_size: int = 1,
        return_vis: bool = False,
        show: bool = False,
        wait_time: float = 0,
        out_dir: str = '',
        no_save_vis: bool = False,
        no_save_pred: bool = True,
        pred_score_thr: float = 0.5,
        return_datasamples: bool = False,
        max_draw_size: Optional[int] = 2048,
        **kwargs,
    ) -> Dict[str, list]:
        """Run inference.

        Args:
            inputs (str | ndarray | list): An image path, a BGR array (grey
                and RGBA arrays are accepted), a folder, or a list of paths
                and arrays.
            texts (str | list[str] | list[str | list[str]]): The
                expressions, as in the class docstring: for one image a str
                or a list of str; for N images a str for all of them or N
                entries, each a str or a list of str.
            batch_size (int): Pairs per forward pass.
            return_vis (bool): Return the drawings.
            show (bool): Show the drawings in a window.
            wait_time (float): Seconds each drawing is shown.
            out_dir (str): Save drawings to ``out_dir/vis``.
            no_save_vis (bool): Never save drawings.
            no_save_pred (bool): Do not save the predictions. If False,
                those of each image go to ``out_dir/preds/<image>.json``
                as soon as the image is done. Defaults to True.
            pred_score_thr (float): Instances drawn above this score.
            return_datasamples (bool): Return ``DetDataSample``s instead of
                dicts.
            max_draw_size (int, optional): Drawings of images whose longer
                side exceeds this are made, and returned, at this longer
                side; 0 or None draws at the image's size. Defaults to 2048.

        Returns:
            dict: ``predictions[i][j]`` for image i and its expression j
            (None for every expression of an image that could not be
            read), ``visualization`` (same nesting) when drawings were
            made, and ``failed``, a list of ``dict(input=..., error=...)``
            for the images that could not be read.
        """
        imgs = self._inputs_to_list(inputs)
        pairs = self._pairs(imgs, texts)
        n_texts = [0] * len(imgs)
        for p in pairs:
            n_texts[p['_pos'][0]] += 1
        predictions = [[None] * k for k in n_texts]
        drawings = [[None] * k for k in n_texts]
        todo = list(n_texts)
        failed: Dict[int, str] = {}
        save_pred = bool(out_dir) and not no_save_pred
        any_vis = False
        batches = self._batches(pairs, batch_size)
        progress = self.show_progress
        if progress is None:
            progress = isinstance(inputs, str) and osp.isdir(inputs)
        if progress:
            batches = track(batches, description='Inference')
        for chunk in batches:
            chunk, data = self._load(chunk, imgs, failed)
            if not chunk:
                continue
            preds = self.forward(self.collate_fn(data))
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
                        max_draw_size,
                    )
                todo[i] -= 1
                if save_pred and not todo[i]:
                    self._save_preds(imgs[i], i, predictions[i], out_dir)
        for i in failed:
            predictions[i] = drawings[i] = None
        return dict(
            predictions=predictions,
            visualization=drawings if any_vis else [],
            failed=[
                dict(input=self._name(imgs[i], i), error=failed[i])
                for i in sorted(failed)
            ],
        )

    @staticmethod
    def _name(img: ImgType, i: int) -> str:
        return img if isinstance(img, str) else f'image #{i}'

    def _load(
        self, chunk: List[dict], imgs: List[ImgType], failed: Dict[int, str]
    ) -> Tuple[List[dict], List[dict]]:
        """Run the pipeline on a batch of pairs. With several images, one
        that cannot be read is skipped with a warning and recorded in
        ``failed``, so that the others still run."""
        kept, data = [], []
        for p in chunk:
            i = p['_pos'][0]
            if i in failed:
                continue
            try:
                data.append(
                    self.pipeline({k: v for k, v in p.items() if k != '_pos'})
                )
            except Exception as e:
                if len(imgs) == 1:
                    raise
                failed[i] = f'{type(e).__name__}: {e}'
                warnings.warn(
                    f'Skipped {self._name(imgs[i], i)}: {failed[i]}',
                    stacklevel=3,
                )
                continue
            kept.append(p)
        return kept, data

    def _save_preds(
        self, img: ImgType, i: int, preds: list, out_dir: str
    ) -> None:
        """Write one image's predictions to ``out_dir/preds/<image>.json``."""
        if isinstance(img, str):
            stem = osp.splitext(osp.basename(img))[0]
        else:
            stem = f'{i:08d}'
        preds = [
            p if isinstance(p, dict) else self.pred2dict(p) for p in preds
        ]
        mmengine.dump(preds, osp.join(out_dir, 'preds', f'{stem}.json'))

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
        max_draw_size=2048,
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
            max_draw_size=max_draw_size or 0,
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
