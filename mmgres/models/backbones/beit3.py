# Copyright (c) mmgres contributors. All rights reserved.
"""BEiT-3, the multi-modality encoder (MME) of IGVG, over ``torchscale``."""

import argparse
import copy
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor

from mmgres.registry import MODELS, TOKENIZER
from mmgres.utils import OptMultiConfig

from .beit3_utils import import_torchscale, interpolate_vision_pos_embed

# Architectures. 'base' and 'large' are the official BEiT-3 settings
# (unilm/beit3 ``_get_base_config`` / ``_get_large_config``: multiway,
# sub-LN, pre-norm, output LayerNorm, no output layer, the 64010-entry
# sentencepiece vocabulary, 1024 text positions). 'tiny' is ours, for tests
# and CPU configs.
BEIT3_ARCHS: Dict[str, dict] = {
    'base': dict(
        embed_dims=768,
        num_layers=12,
        num_heads=12,
        ffn_dims=3072,
        vocab_size=64010,
        max_source_positions=1024,
    ),
    'large': dict(
        embed_dims=1024,
        num_layers=24,
        num_heads=16,
        ffn_dims=4096,
        vocab_size=64010,
        max_source_positions=1024,
    ),
    'tiny': dict(
        embed_dims=64,
        num_layers=2,
        num_heads=4,
        ffn_dims=128,
        vocab_size=512,
        max_source_positions=64,
    ),
}

# Keys of the official checkpoint (microsoft/unilm ``beit3`` release, the
# ``'model'`` entry); the module below is named ``beit3`` so that ours match.
VISION_POS_KEY = 'beit3.encoder.embed_positions.A.weight'
TEXT_POS_KEY = 'beit3.encoder.embed_positions.B.weight'


@MODELS.register_module()
class BEiT3(BaseModule):
    """BEiT-3 multiway transformer encoding an image and an expression jointly.

    IGVG's multi-modality encoder (MME, Sec. 3): the image patches and the
    text tokens go through one multiway transformer (shared self-attention,
    separate vision/language FFNs and norms), so the output image tokens are
    already text-aware and vice versa. Then the image projection (IP) and the
    text projection (TP) map both to ``out_channels`` (C = 256 in IGVG),
    giving F_i and F_t.

    The encoder is ``torchscale.model.BEiT3.BEiT3`` built from
    ``torchscale.architecture.config.EncoderConfig``, held as ``self.beit3``
    so that the parameter names are those of the official checkpoints
    (``beit3.text_embed.weight``, ``beit3.vision_embed.proj.weight``,
    ``beit3.encoder.layers.0.self_attn.k_proj.A.weight``, ...).

    Weights: ``pretrained='path/beit3_base_patch16_224.pth'`` or
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads an official
    BEiT-3 checkpoint (see :meth:`load_beit3_checkpoint`), interpolating the
    vision position table to ``img_size``. Without either, the weights are
    random (truncated normal, std 0.02, as unilm's ``BEiT3Wrapper``).

    Tokenizer: ``tokenizer`` is a ``TOKENIZER`` config, built on first use:
    the official sentencepiece model, ``dict(type='BEiT3Tokenizer',
    vocab_file='beit3.spm')``, or for tiny configs an in-memory one such as
    ``dict(type='SyntheticWordPieceTokenizer')``. :meth:`tokenize` turns
    expressions into ids and a padding mask.

    Input images must be square, ``img_size`` pixels, a multiple of the
    patch size (pad them in the pipeline, e.g. ``Pad(size=(320, 320))``);
    the position table is fixed to that grid, as in the official model.
    The official BEiT-3 code normalises images with timm's Inception
    constants, mean = std = 0.5, i.e. a data preprocessor with
    ``mean=[127.5] * 3, std=[127.5] * 3``.

    Args:
        arch (str | dict): ``'base'``, ``'large'``, ``'tiny'`` or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads``, ``ffn_dims``,
            ``vocab_size`` and optionally ``max_source_positions`` (text
            position table, defaults to 1024). Defaults to ``'base'``.
        img_size (int): Side of the input images. Defaults to 320
            (InstanceVG's setting).
        patch_size (int): Defaults to 16.
        in_channels (int): Image channels. Defaults to 3.
        out_channels (int, optional): Width C of the projections IP and TP,
            linear layers without bias, as InstanceVG's 1x1 image / linear
            text embeddings. None: no projection, the outputs keep the
            encoder width. Defaults to 256.
        drop_path_rate (float): Stochastic depth, linearly increasing over
            layers (torchscale's schedule). Defaults to 0.
        with_cp (bool): Activation checkpointing of every layer (torchscale's
            ``checkpoint_activations``, through fairscale). Defaults to False.
        pretrained (str, optional): Official BEiT-3 checkpoint to load in
            :meth:`init_weights`; the same as ``init_cfg=dict(type=
            'Pretrained', checkpoint=pretrained)``.
        tokenizer (dict, optional): ``TOKENIZER`` config of the tokenizer;
            it may have at most ``vocab_size`` tokens. None: no tokenizer,
            :meth:`tokenize` raises (give ``tokens`` to :meth:`forward`).
        max_length (int): Longest token sequence, ``<s>`` and ``</s>``
            included; longer expressions are truncated. Defaults to 50.
        pad_to_max_length (bool): Pad every batch to ``max_length`` (as
            InstanceVG) rather than to its longest expression.
            Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(
        self,
        arch: Union[str, dict] = 'base',
        img_size: int = 320,
        patch_size: int = 16,
        in_channels: int = 3,
        out_channels: Optional[int] = 256,
        drop_path_rate: float = 0.0,
        with_cp: bool = False,
        pretrained: Optional[str] = None,
        tokenizer: Optional[dict] = None,
        max_length: int = 50,
        pad_to_max_length: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        if pretrained is not None and init_cfg is not None:
            raise ValueError(
                'BEiT3: give `pretrained` or `init_cfg`, not both.'
            )
        if tokenizer is not None and (
            not isinstance(tokenizer, dict) or 'type' not in tokenizer
        ):
            raise TypeError(
                'BEiT3: `tokenizer` must be a TOKENIZER config dict with a '
                f"'type' (e.g. dict(type='BEiT3Tokenizer', vocab_file="
                f"'beit3.spm')), got {tokenizer!r}."
            )
        if pretrained is not None:
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        super().__init__(init_cfg=init_cfg)
        self.arch_settings = self._resolve_arch(arch)
        if isinstance(img_size, (tuple, list)):
            if len(img_size) != 2 or img_size[0] != img_size[1]:
                raise ValueError(
                    f'BEiT3 takes square images, got img_size={img_size}.'
                )
            img_size = img_size[0]
        if img_size % patch_size != 0:
            raise ValueError(
                f'img_size={img_size} is not a multiple of '
                f'patch_size={patch_size}.'
            )
        max_pos = self.arch_settings['max_source_positions']
        if max_length < 2 or max_length + 2 > max_pos:
            # torchscale's text positions start at 2 (fairseq)
            raise ValueError(
                f'max_length={max_length} must be in [2, {max_pos - 2}] '
                f'(max_source_positions={max_pos}).'
            )
        self.img_size = int(img_size)
        self.patch_size = int(patch_size)
        self.max_length = max_length
        self.pad_to_max_length = pad_to_max_length
        self.tokenizer_cfg = (
            None if tokenizer is None else copy.deepcopy(dict(tokenizer))
        )
        self._tokenizer = None

        TorchscaleBEiT3, EncoderConfig = import_torchscale()
        a = self.arch_settings
        self.encoder_cfg = EncoderConfig(
            img_size=self.img_size,
            patch_size=self.patch_size,
            in_chans=in_channels,
            vocab_size=a['vocab_size'],
            multiway=True,
            layernorm_embedding=False,
            normalize_output=True,
            no_output_layer=True,
            drop_path_rate=drop_path_rate,
            encoder_embed_dim=a['embed_dims'],
            encoder_attention_heads=a['num_heads'],
            encoder_ffn_embed_dim=a['ffn_dims'],
            encoder_layers=a['num_layers'],
            max_source_positions=max_pos,
            checkpoint_activations=with_cp,
        )
        self.beit3 = TorchscaleBEiT3(self.encoder_cfg)
        # BEiT-3's [MASK] patch embedding serves only masked-image-modelling
        # pretraining (``masked_position``), which grounding never uses: a
        # trainable parameter without a gradient makes DDP fail. Frozen, not
        # removed, so that official checkpoints load it as before.
        self.beit3.vision_embed.mask_token.requires_grad_(False)

        self.embed_dims = a['embed_dims']
        self.out_channels = out_channels or self.embed_dims
        if out_channels:
            self.img_proj = nn.Linear(
                self.embed_dims, out_channels, bias=False
            )
            self.text_proj = nn.Linear(
                self.embed_dims, out_channels, bias=False
            )
        else:
            self.img_proj = nn.Identity()
            self.text_proj = nn.Identity()

    # ------------------------------------------------------------ settings
    @staticmethod
    def _resolve_arch(arch: Union[str, dict]) -> dict:
        if isinstance(arch, str):
            if arch not in BEIT3_ARCHS:
                raise ValueError(
                    f'Unknown BEiT3 arch {arch!r}; expected one of '
                    f'{sorted(BEIT3_ARCHS)} or a dict.'
                )
            return copy.deepcopy(BEIT3_ARCHS[arch])
        arch = dict(arch)
        need = {'embed_dims', 'num_layers', 'num_heads', 'ffn_dims'}
        need |= {'vocab_size'}
        if not need <= set(arch):
            raise ValueError(
                f'BEiT3 arch dict needs keys {sorted(need)}, '
                f'got {sorted(arch)}.'
            )
        arch.setdefault('max_source_positions', 1024)
        if arch['embed_dims'] % arch['num_heads']:
            raise ValueError('embed_dims must be divisible by num_heads.')
        return arch

    @property
    def patch_grid(self) -> Tuple[int, int]:
        """(h, w) of the image token map."""
        return tuple(self.beit3.vision_embed.patch_shape)

    @property
    def num_extra_pos_tokens(self) -> int:
        """Leading rows of the vision position table (fairseq's 2 + CLS)."""
        ve = self.beit3.vision_embed
        return ve.num_position_embeddings() + 2 - ve.num_patches

    # ----------------------------------------------------------- tokenizer
    @property
    def tokenizer(self):
        """The tokenizer, built from ``tokenizer`` on first use."""
        if self._tokenizer is None:
            if self.tokenizer_cfg is None:
                raise ValueError(
                    'BEiT3 has no tokenizer: set `tokenizer`, e.g. '
                    "dict(type='BEiT3Tokenizer', vocab_file='beit3.spm')."
                )
            tok = TOKENIZER.build(copy.deepcopy(self.tokenizer_cfg))
            vocab_size = self.arch_settings['vocab_size']
            if len(tok) > vocab_size:
                raise ValueError(
                    f'BEiT3: the tokenizer {self.tokenizer_cfg} has '
                    f'{len(tok)} tokens, more than the encoder '
                    f'vocab_size={vocab_size}.'
                )
            self._tokenizer = tok
        return self._tokenizer

    def __getstate__(self):
        # tokenizers can be rebuilt; keep deepcopy/pickle cheap and safe
        state = self.__dict__.copy()
        state['_tokenizer'] = None
        return state

    def tokenize(
        self,
        texts: Sequence[str],
        device: Union[str, torch.device, None] = None,
    ) -> Dict[str, Tensor]:
        """Tokenize a batch of expressions.

        Args:
            texts (Sequence[str]): B expressions.
            device: Where to put the tensors. Defaults to the model's device.

        Returns:
            dict:

            - ``input_ids`` (Tensor): Shape (B, L), ``<s> ... </s>`` then
              padding.
            - ``attention_mask`` (Tensor): Shape (B, L), 1 for real tokens.
            - ``padding_mask`` (Tensor): Shape (B, L), bool, True at padding.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise ValueError('BEiT3.tokenize got no expression.')
        enc = self.tokenizer(
            texts,
            padding='max_length' if self.pad_to_max_length else 'longest',
            truncation=True,
            max_length=self.max_length,
            return_tensors='pt',
        )
        if device is None:
            device = self.beit3.text_embed.weight.device
        mask = enc['attention_mask'].to(device)
        return dict(
            input_ids=enc['input_ids'].to(device),
            attention_mask=mask,
            padding_mask=mask == 0,
        )

    # ------------------------------------------------------------- weights
    def init_weights(self) -> None:
        """Load the official checkpoint named by ``init_cfg`` (type
        ``Pretrained``), or initialise randomly.

        Random: truncated normal (std 0.02) for linear weights, zero biases,
        unit LayerNorms, as unilm's ``BEiT3Wrapper``. The position tables
        get truncated normal std 0.02 too (ViT's choice): torchscale leaves
        them at ``nn.Embedding``'s N(0, 1), which drowns the word embeddings
        (std 1/sqrt(C)) so that a random model hardly sees the words. Word
        and patch embeddings keep torchscale's initialisation. Other
        ``init_cfg`` types are passed to mmengine after the random
        initialisation.
        """
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            self.img_proj.apply(self._init_linear_and_norm)
            self.text_proj.apply(self._init_linear_and_norm)
            self.load_beit3_checkpoint(
                cfg['checkpoint'], prefix=cfg.get('prefix')
            )
        else:
            self.apply(self._init_linear_and_norm)
            if cfg:
                super().init_weights()
        self._is_init = True

    @staticmethod
    def _init_linear_and_norm(m: nn.Module) -> None:
        # torchscale.component.embedding.PositionalEmbedding (an
        # nn.Embedding; torchscale is imported lazily, so by name)
        if type(m).__name__ == 'PositionalEmbedding':
            trunc_normal_(m.weight, std=0.02)
        elif isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    @staticmethod
    def _read_checkpoint(filename: str) -> dict:
        filename = str(filename)
        # official training checkpoints pickle their argparse.Namespace
        # 'args'; allow exactly that, safe loading stays on otherwise
        with torch.serialization.safe_globals([argparse.Namespace]):
            if '://' in filename or filename.startswith(
                ('open-mmlab:', 'torchvision:')
            ):
                from mmengine.runner.checkpoint import CheckpointLoader

                return CheckpointLoader.load_checkpoint(
                    filename, map_location='cpu'
                )
            from mmgres.utils import load_local_checkpoint

            return load_local_checkpoint(filename, map_location='cpu')

    def load_beit3_checkpoint(
        self,
        filename: str,
        prefix: Optional[str] = None,
        strict: bool = False,
    ) -> dict:
        """Load an official BEiT-3 checkpoint into the encoder.

        The official files (microsoft/unilm ``beit3``) are dicts whose
        ``'model'`` entry maps ``beit3.*`` names to tensors (``'module'`` and
        ``'state_dict'`` are accepted too, as is a bare state dict, with or
        without the ``beit3.`` / ``module.`` prefixes). Then:

        - the vision position table ``beit3.encoder.embed_positions.A.weight``
          is resized to this model's patch grid with
          :func:`interpolate_vision_pos_embed` (3 leading rows kept);
        - a longer text position table (``...embed_positions.B.weight``) is
          cut to ``max_source_positions``;
        - tensors whose shape still differs are skipped and reported.

        The projections ``img_proj`` / ``text_proj`` are new layers and
        stay as initialised.

        Args:
            filename (str): Local path (or URL) of the checkpoint.
            prefix (str, optional): Keep only the keys under this prefix and
                strip it (e.g. ``'backbone.'``).
            strict (bool): Raise if any encoder weight is missing, unexpected
                or mismatched. Defaults to False.

        Returns:
            dict: ``missing_keys``, ``unexpected_keys``, ``mismatched_keys``
            (lists) and ``interpolated`` (a message, or None).

        Raises:
            FileNotFoundError: the file does not exist.
            RuntimeError: the file is corrupt or holds no BEiT-3 weights.
        """
        ckpt = self._read_checkpoint(filename)
        state = ckpt
        if isinstance(ckpt, dict):
            for key in ('model', 'module', 'state_dict'):
                if isinstance(ckpt.get(key), dict):
                    state = ckpt[key]
                    break
        if not isinstance(state, dict) or not state:
            raise RuntimeError(
                f'{filename} is not a BEiT-3 checkpoint: no state dict.'
            )
        state = {k: v for k, v in state.items() if isinstance(v, Tensor)}
        if prefix:
            state = {
                k[len(prefix) :]: v
                for k, v in state.items()
                if k.startswith(prefix)
            }
        if state and all(k.startswith('module.') for k in state):
            state = {k[len('module.') :]: v for k, v in state.items()}
        if not any(k.startswith('beit3.') for k in state):
            own = ('text_embed.', 'vision_embed.', 'encoder.')
            state = {
                ('beit3.' + k if k.startswith(own) else k): v
                for k, v in state.items()
            }
        if not any(k.startswith('beit3.') for k in state):
            raise RuntimeError(
                f'{filename} holds no BEiT-3 weights: expected keys such as '
                f"'beit3.text_embed.weight', got e.g. {sorted(state)[:5]}."
            )

        own_state = self.state_dict()
        interpolated = None
        if VISION_POS_KEY in state:
            old = state[VISION_POS_KEY]
            new = interpolate_vision_pos_embed(
                old, self.num_extra_pos_tokens, self.patch_grid
            )
            if new.shape != old.shape:
                side = int(
                    round(math.sqrt(old.shape[0] - self.num_extra_pos_tokens))
                )
                interpolated = (
                    f'vision position embedding {side}x{side} -> '
                    f'{self.patch_grid[0]}x{self.patch_grid[1]} patches '
                    f'({tuple(old.shape)} -> {tuple(new.shape)})'
                )
            state[VISION_POS_KEY] = new
        if TEXT_POS_KEY in state and TEXT_POS_KEY in own_state:
            rows = own_state[TEXT_POS_KEY].shape[0]
            if state[TEXT_POS_KEY].shape[0] > rows:
                state[TEXT_POS_KEY] = state[TEXT_POS_KEY][:rows]

        mismatched = []
        for k in list(state):
            if k in own_state and state[k].shape != own_state[k].shape:
                mismatched.append(
                    f'{k}: checkpoint {tuple(state[k].shape)} vs model '
                    f'{tuple(own_state[k].shape)}'
                )
                del state[k]
        missing, unexpected = self.load_state_dict(state, strict=False)
        report = dict(
            missing_keys=list(missing),
            unexpected_keys=list(unexpected),
            mismatched_keys=mismatched,
            interpolated=interpolated,
        )
        new_layers = [k for k in missing if not k.startswith('beit3.')]
        missing_enc = [k for k in missing if k.startswith('beit3.')]
        lines = [
            f'BEiT3: loaded {len(state) - len(unexpected)} tensors from '
            f'{filename}'
        ]
        if interpolated:
            lines.append(f'  interpolated {interpolated}')
        if new_layers:
            lines.append(f'  new layers (not in the file): {new_layers}')
        for name, keys in (
            ('missing encoder weights', missing_enc),
            ('unexpected keys', list(unexpected)),
            ('skipped, shape mismatch', mismatched),
        ):
            if keys:
                lines.append(f'  {name} ({len(keys)}): {keys}')
        print_log('\n'.join(lines), logger='current')
        if strict and (missing_enc or unexpected or mismatched):
            raise RuntimeError('\n'.join(lines))
        return report

    # ------------------------------------------------------------- forward
    def forward(
        self,
        img: Tensor,
        texts: Optional[Sequence[str]] = None,
        tokens: Optional[Dict[str, Tensor]] = None,
    ) -> Dict[str, Tensor]:
        """Encode images and expressions together.

        Args:
            img (Tensor): Shape (B, 3, img_size, img_size).
            texts (Sequence[str], optional): B expressions.
            tokens (dict, optional): Output of :meth:`tokenize` (or a dict
                with ``input_ids`` and ``padding_mask`` / ``attention_mask``),
                used instead of ``texts``.

        Returns:
            dict (h = w = img_size / patch_size, C' = encoder width,
            C = ``out_channels``):

            - ``img_feats`` (Tensor): F_i, projected image tokens as a map,
              shape (B, C, h, w).
            - ``text_feats`` (Tensor): F_t, projected text tokens, shape
              (B, L, C). Padding positions hold values; use the mask.
            - ``text_padding_mask`` (Tensor): Shape (B, L), bool, True at
              padding.
            - ``img_feats_raw`` (Tensor): Encoder image tokens as a map,
              shape (B, C', h, w).
            - ``text_feats_raw`` (Tensor): Encoder text tokens, (B, L, C').
            - ``cls_feat`` (Tensor): Encoder vision CLS token, (B, C').
            - ``input_ids`` (Tensor): Shape (B, L).
        """
        if tokens is None:
            if texts is None:
                raise ValueError('BEiT3 needs `texts` or `tokens`.')
            tokens = self.tokenize(texts, device=img.device)
        input_ids = tokens['input_ids']
        padding_mask = tokens.get('padding_mask')
        if padding_mask is None:
            padding_mask = tokens['attention_mask'] == 0
        padding_mask = padding_mask.bool()
        if img.dim() != 4 or tuple(img.shape[-2:]) != (
            self.img_size,
            self.img_size,
        ):
            raise ValueError(
                f'BEiT3 was built for {self.img_size}x{self.img_size} '
                f'images, got shape {tuple(img.shape)}; pad or resize the '
                'images to that size in the pipeline.'
            )
        if input_ids.shape[0] != img.shape[0]:
            raise ValueError(
                f'{img.shape[0]} images but {input_ids.shape[0]} expressions.'
            )
        out = self.beit3(
            textual_tokens=input_ids,
            visual_tokens=img,
            text_padding_position=padding_mask,
        )
        x = out['encoder_out']
        split = out['multiway_split_position']  # 1 (CLS) + h * w
        B = x.shape[0]
        h, w = self.patch_grid
        img_tokens = x[:, 1:split]
        text_tokens = x[:, split:]

        def to_map(t: Tensor) -> Tensor:
            return t.transpose(1, 2).reshape(B, t.shape[-1], h, w)

        return dict(
            img_feats=to_map(self.img_proj(img_tokens)),
            text_feats=self.text_proj(text_tokens),
            text_padding_mask=padding_mask,
            img_feats_raw=to_map(img_tokens),
            text_feats_raw=text_tokens,
            cls_feat=x[:, 0],
            input_ids=input_ids,
        )

    def extra_repr(self) -> str:
        a = self.arch_settings
        return (
            f'embed_dims={a["embed_dims"]}, num_layers={a["num_layers"]}, '
            f'img_size={self.img_size}, patch_size={self.patch_size}, '
            f'out_channels={self.out_channels}, max_length={self.max_length}'
        )
