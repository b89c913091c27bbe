# Copyright (c) mmgres contributors. All rights reserved.
"""SAM through HF ``transformers``, prompted by embeddings (GSVA's SFM)."""

import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
from mmgres.utils import OptMultiConfig


def _sam_vit(hidden, layers, heads, global_attn):
    return dict(
        vision_config=dict(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            global_attn_indexes=list(global_attn),
            mlp_dim=hidden * 4,
            output_channels=256,
            image_size=1024,
            patch_size=16,
            window_size=14,
        ),
        prompt_encoder_config=dict(hidden_size=256, image_size=1024),
        mask_decoder_config=dict(hidden_size=256),
    )


# SAM's RGB normalisation in 0-255 (segment-anything's ``build_sam.py``).
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)

# ``SamConfig`` kwargs of the public SAM checkpoints (their config.json);
# GSVA uses ViT-H at 1024 px (paper Sec. 3.1).
KNOWN_SAM_ARCHS: Dict[str, dict] = {
    'sam-vit-huge': _sam_vit(1280, 32, 16, (7, 15, 23, 31)),
    'sam-vit-large': _sam_vit(1024, 24, 16, (5, 11, 17, 23)),
    'sam-vit-base': _sam_vit(768, 12, 12, (2, 5, 8, 11)),
}
for _alias, _name in [
    ('facebook/sam-vit-huge', 'sam-vit-huge'),
    ('facebook/sam-vit-large', 'sam-vit-large'),
    ('facebook/sam-vit-base', 'sam-vit-base'),
]:
    KNOWN_SAM_ARCHS[_alias] = KNOWN_SAM_ARCHS[_name]


@MODELS.register_module()
class HFSamSegmentor(BaseModule):
    """SAM (HF ``SamModel``) used as GSVA's segmentation foundation model.

    The image encoder (frozen by default, as in the paper) and the prompt
    encoder (whose only use here is its "no mask" dense embedding) are kept
    in eval mode when frozen; the mask decoder is trained (paper appendix
    B), but for its IoU prediction head, which decoding by prompt never
    reads. Masks are decoded from *sparse prompt embeddings* given by the
    caller (GSVA's projected ``[SEG]`` states), one mask per prompt, with
    ``multimask_output=False``.

    Frames: the caller gives RGB images in 0-255, padded, with each image's
    content size ``(h, w)``. :meth:`preprocess` resizes the content so that
    its long side is ``S`` (a no-op when the pipeline already did), applies
    SAM's normalisation (:data:`SAM_PIXEL_MEAN`, :data:`SAM_PIXEL_STD`) and
    pads bottom-right to ``S x S``, as SAM's ``ResizeLongestSide`` +
    ``preprocess``. :meth:`postprocess` undoes it: low-resolution logits
    (S/4) are upsampled to ``S``, cropped to the resized content and resized
    to the requested output size.

    Args:
        name_or_path (str, optional): Hub name or local directory of an HF
            SAM checkpoint (e.g. ``'facebook/sam-vit-huge'``).
        model_cfg (dict | str, optional): ``SamConfig`` kwargs or a name in
            :data:`KNOWN_SAM_ARCHS`, used when ``pretrained`` is False.
            Defaults to the known architecture of ``name_or_path``.
        pretrained (bool): Load ``name_or_path`` with ``from_pretrained``.
            Defaults to True.
        freeze_image_encoder (bool): Defaults to True (paper appendix B:
            the SFM's vision encoder is frozen).
        torch_dtype (str | torch.dtype, optional): Model dtype.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(
        self,
        name_or_path: Optional[str] = None,
        model_cfg: Union[dict, str, None] = None,
        pretrained: bool = True,
        freeze_image_encoder: bool = True,
        torch_dtype: Union[str, torch.dtype, None] = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        from transformers import SamConfig, SamModel

        if isinstance(torch_dtype, str):
            torch_dtype = getattr(torch, torch_dtype)
        self.name_or_path = name_or_path
        if pretrained:
            if name_or_path is None:
                raise ValueError('pretrained=True needs name_or_path.')
            kwargs = {} if torch_dtype is None else dict(dtype=torch_dtype)
            self.model = SamModel.from_pretrained(name_or_path, **kwargs)
        else:
            if model_cfg is None:
                model_cfg = name_or_path
            if isinstance(model_cfg, str):
                if model_cfg not in KNOWN_SAM_ARCHS:
                    raise ValueError(
                        f'HFSamSegmentor: no architecture is known for '
                        f'{model_cfg!r}; give model_cfg as a SamConfig dict.'
                        f' Known: {sorted(KNOWN_SAM_ARCHS)}.'
                    )
                model_cfg = KNOWN_SAM_ARCHS[model_cfg]
            self.model = SamModel(SamConfig(**copy.deepcopy(dict(model_cfg))))
            # SAM's random Fourier position features are N(0, 1)
            # (PositionEmbeddingRandom, scale 1); HF's random init uses
            # std = vision hidden_size // 2, whose frequencies make the
            # position features noise from one embedding cell to the next
            # (checkpoints overwrite it, so only random models need this)
            with torch.no_grad():
                self.model.shared_image_embedding.positional_embedding.normal_()
            if torch_dtype is not None:
                self.model.to(torch_dtype)
        self.freeze_image_encoder = freeze_image_encoder
        for p in self.model.parameters():
            p.requires_grad_(False)
        if not freeze_image_encoder:
            self.model.vision_encoder.requires_grad_(True)
        self.model.mask_decoder.requires_grad_(True)
        # one mask per prompt and no IoU scoring (GSVA): nothing reads the
        # IoU prediction, and a trainable parameter without a gradient makes
        # DDP fail. Frozen, not removed, so that SAM checkpoints load it.
        self.model.mask_decoder.iou_prediction_head.requires_grad_(False)
        self.register_buffer(
            'pixel_mean', torch.tensor(SAM_PIXEL_MEAN).view(3, 1, 1), False
        )
        self.register_buffer(
            'pixel_std', torch.tensor(SAM_PIXEL_STD).view(3, 1, 1), False
        )

    def init_weights(self) -> None:
        """Weights are set on build; keep mmengine from re-initialising the
        HF model. An ``init_cfg`` is still applied."""
        if self.init_cfg:
            from mmengine.model.weight_init import initialize

            initialize(self, self.init_cfg)
        self._is_init = True

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_image_encoder:
            self.model.vision_encoder.eval()
        self.model.prompt_encoder.eval()  # frozen
        return self

    @property
    def image_size(self) -> int:
        """Side ``S`` of SAM's square input."""
        return int(self.model.config.vision_config.image_size)

    @property
    def prompt_channels(self) -> int:
        """Width of a sparse prompt embedding (256 for the public SAMs)."""
        return int(self.model.config.prompt_encoder_config.hidden_size)

    def preprocess(
        self, images: Tensor, img_shapes: Sequence[Tuple[int, int]]
    ) -> Tuple[Tensor, List[Tuple[int, int]]]:
        """SAM inputs from RGB images in 0-255.

        Args:
            images (Tensor): Shape (B, 3, H, W); image b's content is
                ``images[b, :, :h, :w]`` with ``(h, w) = img_shapes[b]``.
            img_shapes (Sequence[tuple[int, int]]): (h, w) per image.

        Returns:
            tuple: ``pixel_values`` (B, 3, S, S) and ``input_sizes``, the
            (h', w') of each resized content inside the S x S input.
        """
        s = self.image_size
        out = images.new_zeros((len(img_shapes), 3, s, s), dtype=torch.float)
        sizes = []
        for b, (h, w) in enumerate(img_shapes):
            h, w = int(h), int(w)
            x = images[b, :, :h, :w].float()
            scale = s / max(h, w)
            nh, nw = int(h * scale + 0.5), int(w * scale + 0.5)
            if (nh, nw) != (h, w):
                x = F.interpolate(
                    x[None], size=(nh, nw), mode='bilinear', antialias=True
                )[0]
            out[b, :, :nh, :nw] = (x - self.pixel_mean) / self.pixel_std
            sizes.append((nh, nw))
        return out, sizes

    def encode(self, pixel_values: Tensor) -> Tensor:
        """Image embeddings (B, C, S/16, S/16); no graph when the encoder is
        frozen."""
        dtype = self.model.vision_encoder.patch_embed.projection.weight.dtype
        pixel_values = pixel_values.to(dtype)
        if torch.is_grad_enabled() and not self.freeze_image_encoder:
            # HF's get_image_embeddings runs under no_grad: call the encoder
            # itself when it is trained
            return self.model.vision_encoder(pixel_values)[0]
        with torch.no_grad():
            return self.model.get_image_embeddings(pixel_values)

    def decode(self, image_embedding: Tensor, prompts: Tensor) -> Tensor:
        """Decode one mask per sparse prompt on one image.

        Args:
            image_embedding (Tensor): Shape (C, h, w) or (1, C, h, w).
            prompts (Tensor): Shape (K, C), one prompt token per mask, or
                (K, T, C), T tokens per mask (as SAM's prompt encoder gives
                a point and its padding point).

        Returns:
            Tensor: Low-resolution mask logits, shape (K, 4h, 4w).
        """
        if image_embedding.dim() == 3:
            image_embedding = image_embedding[None]
        if prompts.dim() == 2:
            prompts = prompts[:, None]
        decoder = self.model.mask_decoder
        dtype = decoder.iou_token.weight.dtype
        h, w = image_embedding.shape[-2:]
        dense = self.model.prompt_encoder.no_mask_embed.weight.reshape(
            1, -1, 1, 1
        )
        masks, _ = decoder(
            image_embeddings=image_embedding.to(dtype),
            image_positional_embeddings=(
                self.model.get_image_wide_positional_embeddings().to(dtype)
            ),
            # one image, K prompts: SAM's point batch
            sparse_prompt_embeddings=prompts[None].to(dtype),
            dense_prompt_embeddings=dense.expand(1, -1, h, w).to(dtype),
            multimask_output=False,
        )
        # (1, K, 1, 4h, 4w) -> (K, 4h, 4w)
        return masks[0, :, 0]

    def postprocess(
        self,
        low_res: Tensor,
        input_size: Tuple[int, int],
        out_size: Tuple[int, int],
    ) -> Tensor:
        """Low-resolution logits (K, h, w) to logits (K, H, W) over the
        image content at ``out_size``."""
        s = self.image_size
        x = F.interpolate(
            low_res[None].float(),
            size=(s, s),
            mode='bilinear',
            align_corners=False,
        )
        x = x[..., : int(input_size[0]), : int(input_size[1])]
        x = F.interpolate(
            x,
            size=tuple(int(v) for v in out_size),
            mode='bilinear',
            align_corners=False,
        )
        return x[0]

    def extra_repr(self) -> str:
        return (
            f'name_or_path={self.name_or_path!r}, '
            f'image_size={self.image_size}, '
            f'freeze_image_encoder={self.freeze_image_encoder}'
        )
