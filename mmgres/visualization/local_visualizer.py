# Copyright (c) mmgres contributors. All rights reserved.
"""Local visualizer for referring-expression grounding samples."""

import textwrap
from typing import List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import bitmap_to_polygon
from mmdet.visualization import DetLocalVisualizer
from mmdet.visualization.palette import get_palette
from mmengine.dist import master_only
from mmengine.structures import InstanceData, PixelData

from mmgres.registry import VISUALIZERS

from .frame import (
    as_bool_masks,
    as_boxes,
    check_max_draw_size,
    check_shape,
    draw_size,
    fit_instances,
    fit_sem_seg,
    to_numpy,
)

ColorType = Union[str, Tuple[int, int, int]]

# matplotlib's 'tab10' colours (RGB): bright and distinct on photos.
TAB10 = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
]


@VISUALIZERS.register_module()
class GroundingLocalVisualizer(DetLocalVisualizer):
    """Visualizer for generalized referring expression grounding.

    For one sample (one expression) it draws, side by side as mmdet does,
    the ground truth on the left and the prediction on the right:

    - every instance mask in its own colour (``gt_instances.masks``,
      ``pred_instances.masks``; BitmapMasks, PolygonMasks, tensors or arrays);
    - the instance boxes (``bboxes``, HorizontalBoxes or (N, 4) xyxy), with
      the score of each predicted box;
    - the merged mask (``gt_sem_seg`` / ``pred_sem_seg``, field ``data`` of
      shape (1, H, W)) as an outline, or as a tint when the panel has no
      instance masks (mask-only models);
    - the reference points of point-guided models (IGVG) on the prediction
      panel: every selected point (``pred_points``, (K, 2) xy) as a small
      white dot, and the point of each drawn instance
      (``pred_instances.points``) as a larger dot in the instance's colour;
    - a red "NO TARGET" banner across the panel when the ground truth says
      ``metainfo.no_target`` or the model says ``pred_no_target`` (with
      ``pred_nt_score`` when present);
    - the expression (``metainfo.text``) as a caption strip above both
      panels.

    Predicted instances are kept when their score is ``>= pred_score_thr``
    (the rule of the official gRefCOCO GREC evaluator), so the picture shows
    exactly the boxes the GREC metric counts. The drawn masks and boxes must
    be in the frame of ``image``; a mask of another size raises an error
    naming the sample's ``img_path``.

    It is a drop-in for mmdet's ``DetVisualizationHook`` (``tools/test.py
    --show-dir``), which hands it the original image and the test loop's
    samples.

    A large image is drawn at a bounded size: when its longer side exceeds
    ``max_draw_size``, the image (area interpolation), the masks (nearest
    neighbour), the boxes and the points are scaled down first, and the
    drawing (the saved file and :meth:`get_image`) has the reduced size.
    Drawing costs memory in proportion to the drawn pixels (matplotlib
    renders them as float RGBA): an 8000×8000 image drawn at full size
    peaks at about five times the memory of a tiny model's inference on
    it, and below it at 2048 (``tools/analysis_tools/benchmark_draw.py``).

    Args:
        name (str): Name of the instance. Defaults to 'visualizer'.
        image (np.ndarray, optional): RGB image to draw on. Defaults to None.
        vis_backends (list, optional): Visual backend configs.
        save_dir (str, optional): Save dir for all storage backends.
        instance_palette (str | list[tuple]): Colours of the instances,
            cycled by instance index (all labels are 0 in grounding, so
            colouring by class would paint every instance alike). Anything
            mmdet's ``get_palette`` accepts; None uses matplotlib's tab10
            colours. Defaults to None.
        merged_color (str | tuple): RGB colour of the merged-mask outline
            and tint. Defaults to yellow ``(255, 220, 0)``.
        banner_color (tuple): RGB colour of the "NO TARGET" banner.
            Defaults to red ``(220, 20, 20)``.
        caption_font_size (int, optional): Font size (points) of the caption
            and banner; None scales it with the image. Defaults to None.
        line_width (int | float): Width of box and outline lines.
            Defaults to 2.
        alpha (float): Opacity of the mask tints. Defaults to 0.5.
        max_draw_size (int, optional): Longest side, in pixels, at which an
            image is drawn; 0 or None draws at the image's own size.
            Defaults to 2048.
    """

    def __init__(
        self,
        name: str = 'visualizer',
        image: Optional[np.ndarray] = None,
        vis_backends: Optional[List[dict]] = None,
        save_dir: Optional[str] = None,
        instance_palette: Union[str, List[tuple], None] = None,
        merged_color: ColorType = (255, 220, 0),
        banner_color: Tuple[int, int, int] = (220, 20, 20),
        caption_font_size: Optional[int] = None,
        line_width: Union[int, float] = 2,
        alpha: float = 0.5,
        max_draw_size: Optional[int] = 2048,
    ) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            line_width=line_width,
            alpha=alpha,
        )
        self.instance_palette = instance_palette
        self.merged_color = merged_color
        self.banner_color = banner_color
        self.caption_font_size = caption_font_size
        self.max_draw_size = check_max_draw_size(max_draw_size)

    # the (h, w) at which an image is drawn (:func:`frame.draw_size`)
    draw_size = staticmethod(draw_size)

    # ------------------------------------------------------------------
    # drawing helpers
    # ------------------------------------------------------------------

    def _font_size(self, height: int, width: int) -> int:
        if self.caption_font_size is not None:
            return int(self.caption_font_size)
        return int(max(np.sqrt(height * width) // 40, 6))

    def _colors(self, num: int) -> List[tuple]:
        if self.instance_palette is None:
            palette = TAB10
        else:
            palette = get_palette(self.instance_palette, max(num, 1))
        return [
            tuple(int(c) for c in palette[i % len(palette)])
            for i in range(num)
        ]

    def _draw_panel(
        self,
        image: np.ndarray,
        instances: Optional[InstanceData],
        sem_seg: Optional[PixelData],
        no_target: bool,
        nt_score: Optional[float],
        with_scores: bool,
        img_path: str,
        points: Optional[np.ndarray] = None,
    ) -> np.ndarray:
        """Draw one side (ground truth or prediction).

        Args:
            image (np.ndarray): RGB image, shape (H, W, 3), uint8.
            instances (InstanceData, optional): ``masks`` (N, H, W) and/or
                ``bboxes`` (N, 4) xyxy, optionally ``scores`` (N,).
            sem_seg (PixelData, optional): merged mask, ``data`` (1, H, W).
            no_target (bool): Draw the "NO TARGET" banner.
            nt_score (float, optional): No-target probability to print.
            with_scores (bool): Print each box's score.
            img_path (str): Used in error messages.
            points (np.ndarray, optional): Reference points (K, 2) xy,
                drawn as small white dots; ``instances.points`` (N, 2) are
                drawn larger in the instance colours.

        Returns:
            np.ndarray: The drawn RGB image, shape (H, W, 3).
        """
        self.set_image(image)
        masks = boxes = scores = None
        if instances is not None:
            if 'masks' in instances and len(instances) > 0:
                masks = as_bool_masks(instances.masks)
                check_shape(
                    masks.shape[-2:],
                    image.shape[:2],
                    'instance masks',
                    img_path,
                )
            if 'bboxes' in instances and len(instances) > 0:
                boxes = as_boxes(instances.bboxes)
                if not boxes.any():  # dummy boxes of mask-only models
                    boxes = None
            if with_scores and 'scores' in instances:
                scores = to_numpy(instances.scores).reshape(-1)
        num = len(instances) if instances is not None else 0
        colors = self._colors(num)

        if masks is not None and masks.any():
            self.draw_binary_masks(masks, colors=colors, alphas=self.alpha)
            for mask, color in zip(masks, colors):
                contours, _ = bitmap_to_polygon(mask)
                if contours:
                    self.draw_polygons(
                        contours, edge_colors=color, line_widths=1
                    )

        merged = None
        if sem_seg is not None:
            data = sem_seg.get('data', sem_seg.get('sem_seg'))
            if data is not None:
                merged = to_numpy(data).reshape(-1, *data.shape[-2:])[0] > 0
                check_shape(
                    merged.shape, image.shape[:2], 'merged mask', img_path
                )
        if merged is not None and merged.any():
            if masks is None or not masks.any():
                self.draw_binary_masks(
                    merged, colors=self.merged_color, alphas=self.alpha
                )
            contours, _ = bitmap_to_polygon(merged)
            self.draw_polygons(
                contours,
                edge_colors=self.merged_color,
                line_widths=self.line_width,
            )

        if boxes is not None:
            self.draw_bboxes(
                boxes, edge_colors=colors, line_widths=self.line_width
            )
            if scores is not None:
                size = max(self._font_size(*image.shape[:2]) * 0.7, 6)
                self.draw_texts(
                    [f'{float(s):.2f}' for s in scores],
                    boxes[:, :2] + self.line_width,
                    font_sizes=size,
                    colors='white',
                    bboxes=dict(
                        facecolor='black', alpha=0.7, pad=0.5, edgecolor='none'
                    ),
                )
        self._draw_points(image, points, instances, colors)
        drawn = self.get_image()
        if no_target:
            label = 'NO TARGET'
            if nt_score is not None:
                label += f' ({nt_score:.2f})'
            drawn = self._draw_banner(drawn, label)
        return drawn

    def _draw_points(
        self,
        image: np.ndarray,
        points: Optional[np.ndarray],
        instances: Optional[InstanceData],
        colors: List[tuple],
    ) -> None:
        """Dots for the selected reference points and, larger and in the
        instance colours, for the points of the drawn instances."""
        radius = max(3.0, min(image.shape[:2]) / 50)
        if points is not None and len(points):
            pts = to_numpy(points).reshape(-1, 2).astype(np.float32)
            self.draw_circles(
                pts,
                np.full(len(pts), radius),
                edge_colors='black',
                face_colors='white',
                line_widths=1,
                alpha=1.0,
            )
        if instances is not None and 'points' in instances:
            pts = to_numpy(instances.points).reshape(-1, 2)
            if len(pts):
                self.draw_circles(
                    pts.astype(np.float32),
                    np.full(len(pts), 2 * radius),
                    edge_colors='white',
                    face_colors=colors[: len(pts)],
                    line_widths=1,
                    alpha=1.0,
                )

    def _draw_banner(self, image: np.ndarray, label: str) -> np.ndarray:
        """Blend a red strip over the middle of ``image`` and write
        ``label`` on it. The strip covers a quarter of the height (at least
        12 px) across the whole width."""
        height, width = image.shape[:2]
        band = max(height // 4, min(12, height))
        top = (height - band) // 2
        out = image.astype(np.float32)
        color = np.array(self.banner_color, dtype=np.float32)
        out[top : top + band] = 0.25 * out[top : top + band] + 0.75 * color
        self.set_image(out.astype(np.uint8))
        # shrink the font until the label fits in 90% of the width
        fit = 0.9 * width / (0.75 * len(label)) * 72 / self.dpi
        self.draw_texts(
            label,
            np.array([width / 2, top + band / 2]),
            font_sizes=max(min(self._font_size(height, width), fit), 4),
            colors='white',
            vertical_alignments='center',
            horizontal_alignments='center',
        )
        return self.get_image()

    def _draw_caption(
        self, text: str, width: int, font_size: int
    ) -> np.ndarray:
        """A black strip of the given width with ``text`` wrapped on it.

        Returns:
            np.ndarray: RGB strip, shape (h, width, 3).
        """
        px = font_size * self.dpi / 72  # points -> pixels
        per_line = max(int((width - 8) / (0.55 * px)), 8)
        lines = textwrap.wrap(text, per_line) or ['']
        line_h = int(np.ceil(1.35 * px))
        strip = np.zeros((line_h * len(lines) + 8, width, 3), np.uint8)
        self.set_image(strip)
        self.draw_texts(
            lines,
            np.array([[4, 4 + i * line_h] for i in range(len(lines))]),
            font_sizes=font_size,
            colors='white',
        )
        return self.get_image()

    # ------------------------------------------------------------------
    @master_only
    def add_datasample(
        self,
        name: str,
        image: np.ndarray,
        data_sample: Optional[DetDataSample] = None,
        draw_gt: bool = True,
        draw_pred: bool = True,
        show: bool = False,
        wait_time: float = 0,
        out_file: Optional[str] = None,
        pred_score_thr: float = 0.7,
        step: int = 0,
        max_draw_size: Optional[int] = None,
    ) -> None:
        """Draw a grounding sample and save or show it.

        The ground-truth panel is drawn when the sample has ``gt_instances``,
        ``gt_sem_seg`` or ``no_target``; the prediction panel when it has
        ``pred_instances``, ``pred_sem_seg`` or ``pred_no_target``. Both
        panels are put side by side (ground truth left) under a caption with
        the expression.

        Args:
            name (str): Image identifier for the backends.
            image (np.ndarray): RGB image, shape (H, W, 3).
            data_sample (DetDataSample, optional): Annotations and/or
                predictions in the frame of ``image``.
            draw_gt (bool): Draw the ground truth. Defaults to True.
            draw_pred (bool): Draw the prediction. Defaults to True.
            show (bool): Show the result in a window. Defaults to False.
            wait_time (float): Seconds to show it. Defaults to 0.
            out_file (str, optional): Write the result there (then the
                backends are not used). Defaults to None.
            pred_score_thr (float): Keep predicted instances with a score of
                at least this. Defaults to 0.7.
            step (int): Global step for the backends. Defaults to 0.
            max_draw_size (int, optional): Longest side of the drawing for
                this call; 0 draws at the image's size, None uses the
                visualizer's ``max_draw_size``. Defaults to None.
        """
        if max_draw_size is None:
            max_draw_size = self.max_draw_size
        frame = tuple(image.shape[:2])
        size = self.draw_size(frame, check_max_draw_size(max_draw_size))
        if image.dtype != np.uint8:
            image = image.clip(0, 255).astype(np.uint8)
        if size != frame:
            image = mmcv.imresize(
                image, (size[1], size[0]), interpolation='area'
            )
        image = np.ascontiguousarray(image)
        panels = []
        text = None
        if data_sample is not None:
            data_sample = data_sample.cpu()
            img_path = str(data_sample.get('img_path', name))
            text = data_sample.get('text', None)
            if draw_gt and self._has_gt(data_sample):
                panels.append(
                    self._draw_panel(
                        image,
                        fit_instances(
                            data_sample.get('gt_instances', None),
                            frame,
                            size,
                            img_path,
                        ),
                        fit_sem_seg(
                            data_sample.get('gt_sem_seg', None),
                            frame,
                            size,
                            img_path,
                        ),
                        bool(data_sample.get('no_target', False)),
                        None,
                        with_scores=False,
                        img_path=img_path,
                    )
                )
            if draw_pred and self._has_pred(data_sample):
                instances = fit_instances(
                    data_sample.get('pred_instances', None),
                    frame,
                    size,
                    img_path,
                )
                if instances is not None and 'scores' in instances:
                    keep = (
                        to_numpy(instances.scores).reshape(-1)
                        >= pred_score_thr
                    )
                    instances = instances[torch.from_numpy(keep)]
                nt_score = data_sample.get('pred_nt_score', None)
                points = data_sample.get('pred_points', None)
                if points is not None and size != frame:
                    points = to_numpy(points).reshape(-1, 2) * np.array(
                        [size[1] / frame[1], size[0] / frame[0]]
                    )
                panels.append(
                    self._draw_panel(
                        image,
                        instances,
                        fit_sem_seg(
                            data_sample.get('pred_sem_seg', None),
                            frame,
                            size,
                            img_path,
                        ),
                        bool(data_sample.get('pred_no_target', False)),
                        None if nt_score is None else float(nt_score),
                        with_scores=True,
                        img_path=img_path,
                        points=points,
                    )
                )
        drawn = np.concatenate(panels, axis=1) if panels else image
        if isinstance(text, Sequence) and not isinstance(text, str):
            text = ' | '.join(str(t) for t in text)
        if text:
            caption = self._draw_caption(
                str(text), drawn.shape[1], self._font_size(*image.shape[:2])
            )
            drawn = np.concatenate([caption, drawn], axis=0)

        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)

    @staticmethod
    def _has_gt(data_sample: DetDataSample) -> bool:
        return (
            any(k in data_sample for k in ('gt_instances', 'gt_sem_seg'))
            or 'no_target' in data_sample.metainfo
        )

    @staticmethod
    def _has_pred(data_sample: DetDataSample) -> bool:
        return any(
            k in data_sample
            for k in ('pred_instances', 'pred_sem_seg', 'pred_no_target')
        )
