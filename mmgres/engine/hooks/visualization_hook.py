# Copyright (c) mmgres contributors. All rights reserved.
import os.path as osp
from typing import Sequence

import mmcv
from mmdet.engine.hooks import DetVisualizationHook
from mmdet.structures import DetDataSample
from mmengine.fileio import get
from mmengine.runner import Runner
from mmengine.utils import mkdir_or_exist

from mmgres.registry import HOOKS


@HOOKS.register_module()
class GroundingVisualizationHook(DetVisualizationHook):
    """Draw test predictions, one file per expression.

    mmdet's :class:`DetVisualizationHook` names each drawing after its image,
    so the several expressions of one image overwrite each other, and it
    re-joins ``test_out_dir`` onto the work dir at every iteration. Here the
    folder is resolved once and files are named
    ``<image stem>_<sent_id>.jpg`` (or ``_<index>`` without a ``sent_id``).
    Set by ``tools/test.py --show-dir DIR``.
    """

    def before_test(self, runner: Runner) -> None:
        if self.draw and self.test_out_dir is not None:
            self.test_out_dir = osp.join(
                runner.work_dir, runner.timestamp, self.test_out_dir
            )
            mkdir_or_exist(self.test_out_dir)

    def after_test_iter(
        self,
        runner: Runner,
        batch_idx: int,
        data_batch: dict,
        outputs: Sequence[DetDataSample],
    ) -> None:
        if self.draw is False:
            return
        for data_sample in outputs:
            self._test_index += 1
            img_path = data_sample.img_path
            img = mmcv.imfrombytes(
                get(img_path, backend_args=self.backend_args),
                channel_order='rgb',
            )
            stem = osp.splitext(osp.basename(img_path))[0]
            tag = data_sample.metainfo.get('sent_id', self._test_index)
            name = f'{stem}_{tag}.jpg'
            out_file = (
                osp.join(self.test_out_dir, name)
                if self.test_out_dir is not None
                else None
            )
            self._visualizer.add_datasample(
                name,
                img,
                data_sample=data_sample,
                show=self.show,
                wait_time=self.wait_time,
                pred_score_thr=self.score_thr,
                out_file=out_file,
                step=self._test_index,
            )
