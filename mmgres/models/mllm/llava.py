# Copyright (c) mmgres contributors. All rights reserved.
"""LLaVA through HF ``transformers``, with GSVA's tokens, LoRA and
trainable parts."""

import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS, TOKENIZER
from mmgres.utils import OptMultiConfig

from ..utils.conversation import IMAGE_PLACEHOLDER, REJ_TOKEN, SEG_TOKEN
from .llava_archs import KNOWN_LLAVA_ARCHS

__all__ = ['KNOWN_LLAVA_ARCHS', 'LlavaMLLM']

# LLaVA v1's image wrapping tokens (``DEFAULT_IM_START_TOKEN``,
# ``DEFAULT_IM_END_TOKEN``).
IMAGE_START_END = ('<im_start>', '<im_end>')

#: Values of ``LlavaMLLM(projector=...)``, named as LLaVA's
#: ``mm_projector_type``.
PROJECTORS = ('linear', 'mlp2x_gelu')


@MODELS.register_module()
class LlavaMLLM(BaseModule):
    """LLaVA (HF ``LlavaForConditionalGeneration``) prepared for GSVA.

    On build it:

    1. makes the model: ``from_pretrained(name_or_path)`` (a hub name or a
       local directory in the HF LLaVA format) when ``pretrained``, else
       random weights from ``model_cfg`` (a ``LlavaConfig`` dict, or a name in
       :data:`KNOWN_LLAVA_ARCHS`);
    2. builds the tokenizer from ``tokenizer`` (``TOKENIZER``), sets
       padding to ``<unk>`` when there is none (as GSVA does), adds
       ``[SEG]`` and ``[REJ]`` (and the image token ``<image>`` if missing;
       the strings of :mod:`mmgres.models.utils.conversation`, which builds
       the dialogue) and resizes the embeddings and ``lm_head`` when the
       vocabulary grew;
    3. with ``projector='linear'`` gives it LLaVA v1's projector, one
       ``nn.Linear`` (see :meth:`_make_linear_projector`);
    4. freezes everything, puts LoRA adapters (``peft``) on the language
       model's ``q_proj`` / ``v_proj`` only (not on the CLIP tower), and makes
       the modules named in ``trainable_modules`` (``lm_head``,
       ``embed_tokens``) trainable. The CLIP tower and the projector stay
       frozen.

    Images are given as RGB pixel values in 0-255, already resized and
    padded (the SAM frame); :meth:`preprocess_images` crops each to its
    ``img_shape`` and makes the CLIP input (resize of the short side and
    centre crop, as ``CLIPImageProcessor``, then CLIP normalisation).

    Args:
        name_or_path (str, optional): Hub name or local directory of the
            LLaVA checkpoint; also the default tokenizer source.
        model_cfg (dict | str, optional): ``LlavaConfig`` kwargs (with
            ``text_config`` and ``vision_config`` dicts) or a name in
            :data:`KNOWN_LLAVA_ARCHS`, used when ``pretrained`` is False.
            Defaults to the known architecture of ``name_or_path``.
        pretrained (bool): Load ``name_or_path`` with ``from_pretrained``
            while building (a 7B random init first would take minutes and
            twice the memory). Defaults to True.
        tokenizer (dict, optional): ``TOKENIZER`` config of the tokenizer,
            which must be a fast one (GSVA reads token offsets). Defaults to
            ``dict(type='AutoTokenizer', name_or_path=name_or_path,
            use_fast=True)``; an ``'AutoTokenizer'`` dict without
            ``name_or_path`` loads ``name_or_path`` too. For the release's
            tokenizer add ``legacy=True``: the slow LLaMA tokenizer's
            (``transformers`` < 4.34) behaviour that the GSVA release was
            trained with, every piece of text between added tokens getting
            sentencepiece's leading ``'▁'`` (after ``[SEG]``, ``', e2'`` is
            ``'▁,' ...``), where ``legacy=False`` adds it to the first
            piece only. An in-memory word-level tokenizer (tiny configs,
            tests: ``'WordLevelTokenizer'``, ``'SyntheticWordLevelTokenizer'``)
            gets the words of the GSVA dialogue templates put first
            (:func:`~mmgres.models.tokenizers.with_leading_words`), so that
            the dialogue has no unknown word.
        image_start_end (bool): The prompt wraps the image as
            ``<im_start><image><im_end>`` (LLaVA v1's
            ``mm_use_im_start_end``, on in the GSVA release). The two tokens
            are then needed: a LLaVA v1 tokenizer already has them
            (``<im_patch>``, ``<im_start>``, ``<im_end>`` = 32000, 32001,
            32002, kept by tools/model_converters/llava2hf.py); otherwise
            they are added after ``[SEG]`` and ``[REJ]``, as the release's
            ``add_task_tokens`` does. Defaults to False (the paper does not
            mention them).
        lora_cfg (dict, optional): ``peft.LoraConfig`` kwargs;
            ``target_modules`` is a list of layer names, matched inside the
            language model only. None trains no adapter. Defaults to rank 8
            (the paper's 7B setting; 64 for 13B), alpha 16, dropout 0.05
            on q_proj, v_proj (the GSVA release's values).
        trainable_modules (Sequence[str]): Modules (by the last part of their
            name) whose parameters are trained. The vision tower's parts
            that LLaVA never reads (its pooled-output norm, the layers after
            ``vision_feature_layer``) stay frozen. Defaults to
            ``('lm_head', 'embed_tokens')``.
        clip_resize (str): ``'center_crop'`` (short side to the CLIP size,
            then centre crop, as GSVA's ``CLIPImageProcessor``) or
            ``'squash'`` (the whole image, aspect ratio not kept).
        projector (str): The image projector φ (paper Eq. 1). ``'linear'``:
            one ``nn.Linear`` (``model.model.multi_modal_projector``, keys
            ``weight`` and ``bias``), LLaVA v1's ``mm_projector``, which
            the paper's MLLMs have (Sec. 3.1: "a linear projector φ";
            LLaVA-7B v1.1 Lightning, LLaVA-Llama-2-13B). ``'mlp2x_gelu'``:
            HF's ``LlavaMultiModalProjector``, LLaVA-1.5's
            Linear-GELU-Linear. Defaults to ``'linear'``.
        torch_dtype (str | torch.dtype, optional): dtype for
            ``from_pretrained`` / the random model, e.g. ``'bfloat16'``.
        gradient_checkpointing (bool): Activation checkpointing of the HF
            model. Defaults to False.
        init_cfg (dict, optional): mmengine init config (e.g. a
            ``Pretrained`` mmengine checkpoint).
    """

    def __init__(
        self,
        name_or_path: Optional[str] = None,
        model_cfg: Union[dict, str, None] = None,
        pretrained: bool = True,
        tokenizer: Optional[dict] = None,
        image_start_end: bool = False,
        lora_cfg: Optional[dict] = dict(
            r=8,
            lora_alpha=16,
            lora_dropout=0.05,
            target_modules=('q_proj', 'v_proj'),
        ),
        trainable_modules: Sequence[str] = ('lm_head', 'embed_tokens'),
        clip_resize: str = 'center_crop',
        projector: str = 'linear',
        torch_dtype: Union[str, torch.dtype, None] = None,
        gradient_checkpointing: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        from transformers import LlavaConfig, LlavaForConditionalGeneration

        if clip_resize not in ('center_crop', 'squash'):
            raise ValueError(f'Unknown clip_resize {clip_resize!r}.')
        if projector not in PROJECTORS:
            raise ValueError(
                f'projector must be one of {PROJECTORS}, got {projector!r}.'
            )
        self.projector = projector
        if isinstance(torch_dtype, str):
            torch_dtype = getattr(torch, torch_dtype)
        self.name_or_path = name_or_path
        self.clip_resize = clip_resize
        self.image_start_end = image_start_end
        self.tokenizer_cfg = self._resolve_tokenizer_cfg(
            tokenizer, name_or_path
        )
        self.tokenizer = self._build_tokenizer()

        if pretrained:
            if name_or_path is None:
                raise ValueError('pretrained=True needs name_or_path.')
            kwargs = {} if torch_dtype is None else dict(dtype=torch_dtype)
            self.model = LlavaForConditionalGeneration.from_pretrained(
                name_or_path, **kwargs
            )
        else:
            cfg = self._resolve_cfg(model_cfg, name_or_path)
            cfg['image_token_index'] = self.tokenizer.convert_tokens_to_ids(
                IMAGE_PLACEHOLDER
            )
            vision = cfg['vision_config']
            if 'image_seq_length' not in cfg:
                n = (vision['image_size'] // vision['patch_size']) ** 2
                full = cfg.get('vision_feature_select_strategy') == 'full'
                cfg['image_seq_length'] = n + int(full)
            self.model = LlavaForConditionalGeneration(LlavaConfig(**cfg))
            if torch_dtype is not None:
                self.model.to(torch_dtype)
        if projector == 'linear':
            self._make_linear_projector(pretrained)
        # mean resizing only makes sense for trained embeddings; on random
        # ones (a rank-deficient covariance for tiny models) it would give
        # every new token the same row
        self._sync_vocab(mean_resizing=pretrained)
        self._set_trainable(lora_cfg, trainable_modules)
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs=dict(use_reentrant=False)
            )

    # ------------------------------------------------------------- building
    @staticmethod
    def _resolve_cfg(model_cfg, name_or_path) -> dict:
        if model_cfg is None:
            model_cfg = name_or_path
        if isinstance(model_cfg, str):
            if model_cfg not in KNOWN_LLAVA_ARCHS:
                raise ValueError(
                    f'LlavaMLLM: no architecture is known for {model_cfg!r};'
                    ' give model_cfg as a LlavaConfig dict. Known: '
                    f'{sorted(KNOWN_LLAVA_ARCHS)}.'
                )
            model_cfg = KNOWN_LLAVA_ARCHS[model_cfg]
        cfg = copy.deepcopy(dict(model_cfg))
        for key in ('text_config', 'vision_config'):
            if not isinstance(cfg.get(key), dict):
                raise ValueError(f'model_cfg needs a {key} dict.')
            cfg[key] = dict(cfg[key])
        return cfg

    def _make_linear_projector(self, pretrained: bool) -> None:
        """Replace HF's two-layer projector by LLaVA v1's one ``nn.Linear``.

        A random model gets a new Linear. A pretrained one must hold the
        v1 projector as ``tools/model_converters/llava2hf.py`` writes it
        for HF (``projector_hidden_act='linear'``, the Linear in
        ``linear_1``, ``linear_2`` the identity with a zero bias); its
        ``linear_1`` becomes the Linear, exactly.
        """
        llava = self.model.model
        old = llava.multi_modal_projector
        first = old.linear_1
        if pretrained:
            act = self.model.config.projector_hidden_act
            second = old.linear_2
            eye = torch.eye(second.in_features, dtype=second.weight.dtype)
            bias = second.bias
            identity = (
                act == 'linear'
                and second.weight.shape == eye.shape
                and torch.equal(second.weight.detach().cpu(), eye)
                and (bias is None or not bias.detach().any())
            )
            if not identity:
                raise ValueError(
                    f'{self.name_or_path!r} has a two-layer projector '
                    f"(projector_hidden_act={act!r}), not LLaVA v1's one "
                    "Linear: set projector='mlp2x_gelu', or convert a v1 "
                    'LLaVA with tools/model_converters/llava2hf.py.'
                )
        linear = torch.nn.Linear(
            first.in_features,
            first.out_features,
            bias=first.bias is not None,
            device=first.weight.device,
            dtype=first.weight.dtype,
        )
        if pretrained:
            linear.load_state_dict(first.state_dict())
        llava.multi_modal_projector = linear

    @staticmethod
    def _resolve_tokenizer_cfg(tokenizer, name_or_path) -> dict:
        if tokenizer is None:
            tokenizer = dict(type='AutoTokenizer', use_fast=True)
        if not isinstance(tokenizer, dict) or 'type' not in tokenizer:
            raise TypeError(
                'LlavaMLLM: `tokenizer` must be a TOKENIZER config dict with '
                f"a 'type', got {tokenizer!r}."
            )
        cfg = copy.deepcopy(dict(tokenizer))
        if cfg['type'] == 'AutoTokenizer' and cfg.get('name_or_path') is None:
            if name_or_path is None:
                raise ValueError(
                    'LlavaMLLM needs name_or_path or a tokenizer with its '
                    'own source.'
                )
            cfg['name_or_path'] = name_or_path
        return cfg

    def _build_tokenizer(self):
        from tokenizers import AddedToken, models

        from mmgres.models.tokenizers import with_leading_words
        from mmgres.models.tokenizers.word_list import WordListTokenizerFast
        from mmgres.models.utils import GSVAConversationBuilder

        tok = TOKENIZER.build(copy.deepcopy(self.tokenizer_cfg))
        if not getattr(tok, 'is_fast', False):
            raise ValueError(
                f'The tokenizer {self.tokenizer_cfg} is not a fast '
                'tokenizer; GSVA needs offsets (return_offsets_mapping).'
            )
        closed_words = isinstance(tok, WordListTokenizerFast) and isinstance(
            tok.backend_tokenizer.model, models.WordLevel
        )
        if closed_words:
            # a closed word list built in memory: the dialogue's words must
            # be in it (one loaded from files keeps its ids)
            tok = with_leading_words(tok, GSVAConversationBuilder().words())
        if tok.pad_token is None:
            tok.pad_token = tok.unk_token  # as GSVA / LISA
        vocab_now = tok.get_vocab()
        if IMAGE_PLACEHOLDER not in vocab_now:
            tok.add_tokens(
                [
                    AddedToken(
                        IMAGE_PLACEHOLDER, normalized=False, special=True
                    )
                ],
                special_tokens=True,
            )
        new = [
            AddedToken(t, normalized=False, special=False)
            for t in (SEG_TOKEN, REJ_TOKEN)
            if t not in vocab_now
        ]
        if new:
            tok.add_tokens(new)
        wrap = [
            AddedToken(t, normalized=False, special=True)
            for t in IMAGE_START_END
            if self.image_start_end and t not in vocab_now
        ]
        if wrap:
            tok.add_tokens(wrap, special_tokens=True)
        if closed_words:
            # the pre-training mixture's template words, after every other
            # token: a closed word list keeps the ids it had without them
            # (the tiny configs' checkpoints)
            from mmgres.models.tokenizers import split_words

            vocab_now = tok.get_vocab()
            extra = []
            for text in GSVAConversationBuilder.mixture_words():
                for w in split_words(text):
                    if w not in vocab_now and w not in extra:
                        extra.append(w)
            if extra:
                tok.add_tokens(
                    [AddedToken(w, single_word=True) for w in extra]
                )
        return tok

    def _sync_vocab(self, mean_resizing: bool) -> None:
        """Resize the embeddings to the tokenizer, point the config at the
        image token and give generation its special ids."""
        n = len(self.tokenizer)
        emb = self.model.get_input_embeddings()
        if n > emb.num_embeddings:
            on_meta = emb.weight.device.type == 'meta'
            self.model.resize_token_embeddings(
                n, mean_resizing=mean_resizing and not on_meta
            )
        image_id = self.tokenizer.convert_tokens_to_ids(IMAGE_PLACEHOLDER)
        if self.model.config.image_token_id != image_id:
            print_log(
                f'LlavaMLLM: image token id {image_id} of the tokenizer '
                f'replaces {self.model.config.image_token_id} in the config.',
                logger='current',
            )
            self.model.config.image_token_id = image_id
        tok = self.tokenizer
        for cfg in (self.model.config, self.model.generation_config):
            cfg.pad_token_id = tok.pad_token_id
            cfg.eos_token_id = tok.eos_token_id
            cfg.bos_token_id = tok.bos_token_id

    def _set_trainable(self, lora_cfg, trainable_modules) -> None:
        for p in self.model.parameters():
            p.requires_grad_(False)
        if lora_cfg is not None:
            from peft import LoraConfig, inject_adapter_in_model

            lora_cfg = dict(lora_cfg)
            names = list(lora_cfg.pop('target_modules', ('q_proj', 'v_proj')))
            if not names:
                raise ValueError('lora_cfg.target_modules is empty.')
            # a regex (peft full-matches it) so that the CLIP tower's q/v
            # projections are left alone
            pattern = r'.*language_model\..*\.({})'.format('|'.join(names))
            config = LoraConfig(
                target_modules=pattern, bias='none', **lora_cfg
            )
            self.model = inject_adapter_in_model(config, self.model)
            for n, p in self.model.named_parameters():
                if 'lora_' in n:
                    p.requires_grad_(True)
        wanted = set(trainable_modules)
        for name, module in self.model.named_modules():
            if name.split('.')[-1] in wanted:
                for p in module.parameters():
                    p.requires_grad_(True)
        for module in self._unread_vision_modules():
            module.requires_grad_(False)

    def _unread_vision_modules(self) -> List[torch.nn.Module]:
        """The vision tower's modules whose output LLaVA never reads: the
        pooled-output norm and the layers after ``vision_feature_layer``.

        They are kept frozen even when the tower is trained, since a
        trainable parameter without a gradient makes DDP fail.
        """
        tower = self.model.model.vision_tower
        tower = getattr(tower, 'vision_model', tower)
        unread = []
        if getattr(tower, 'post_layernorm', None) is not None:
            unread.append(tower.post_layernorm)
        layers = getattr(getattr(tower, 'encoder', None), 'layers', None)
        if layers is not None:
            read = self.model.config.vision_feature_layer
            read = [read] if isinstance(read, int) else list(read)
            # hidden_states[i] is the output of the first i layers
            last = max(i % (len(layers) + 1) for i in read)
            unread.extend(layers[last:])
        return unread

    def init_weights(self) -> None:
        """Weights are set on build (``from_pretrained`` or random from the
        config); keep mmengine from re-initialising the HF model. An
        ``init_cfg`` is still applied."""
        if self.init_cfg:
            from mmengine.model.weight_init import initialize

            initialize(self, self.init_cfg)
        self._is_init = True

    # ----------------------------------------------------------- properties
    @property
    def hidden_size(self) -> int:
        """Width of the language model's hidden states."""
        return self.model.config.text_config.hidden_size

    @property
    def num_image_tokens(self) -> int:
        """Visual tokens per image in the LLM sequence."""
        return int(self.model.config.image_seq_length)

    @property
    def image_size(self) -> int:
        """Input size of the CLIP tower."""
        return int(self.model.config.vision_config.image_size)

    def token_id(self, token: str) -> int:
        return int(self.tokenizer.convert_tokens_to_ids(token))

    @property
    def seg_token_id(self) -> int:
        return self.token_id(SEG_TOKEN)

    @property
    def rej_token_id(self) -> int:
        return self.token_id(REJ_TOKEN)

    @property
    def image_token_id(self) -> int:
        return self.token_id(IMAGE_PLACEHOLDER)

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def eos_token_id(self) -> int:
        return int(self.tokenizer.eos_token_id)

    # --------------------------------------------------------------- inputs
    def preprocess_images(
        self,
        images: Tensor,
        img_shapes: Sequence[Tuple[int, int]],
        clip_images: Optional[Sequence] = None,
    ) -> Tensor:
        """Make CLIP inputs from RGB images in 0-255.

        Args:
            clip_images (Sequence, optional): Ready CLIP inputs, one
                (3, S, S) array or tensor per image (the ``clip_img`` of
                :class:`~mmgres.datasets.transforms.CLIPImageInput`, made
                from the original image as the release does); when given
                they are used as they are and ``images`` is not read.
            images (Tensor): Shape (B, 3, H, W), padded; image b's content is
                ``images[b, :, :h, :w]`` with ``(h, w) = img_shapes[b]``.
            img_shapes (Sequence[tuple[int, int]]): (h, w) per image.

        Returns:
            Tensor: Shape (B, 3, S, S), CLIP-normalised, S the CLIP size.
        """
        from transformers.utils.constants import (
            OPENAI_CLIP_MEAN,
            OPENAI_CLIP_STD,
        )

        s = self.image_size
        dtype = self.model.model.vision_tower.dtype
        if clip_images is not None:
            out = torch.stack(
                [torch.as_tensor(c, device=images.device) for c in clip_images]
            )
            if tuple(out.shape[1:]) != (3, s, s):
                raise ValueError(
                    f'clip_img has shape {tuple(out.shape[1:])}, the CLIP '
                    f'tower takes (3, {s}, {s}); set CLIPImageInput sizes.'
                )
            return out.to(dtype)
        mean = images.new_tensor(OPENAI_CLIP_MEAN).view(3, 1, 1) * 255
        std = images.new_tensor(OPENAI_CLIP_STD).view(3, 1, 1) * 255
        out = []
        for img, (h, w) in zip(images, img_shapes):
            x = img[:, : int(h), : int(w)].float()[None]
            if self.clip_resize == 'squash':
                x = F.interpolate(
                    x, size=(s, s), mode='bicubic', antialias=True
                )
            else:
                scale = s / min(h, w)
                nh = max(s, int(round(h * scale)))
                nw = max(s, int(round(w * scale)))
                x = F.interpolate(
                    x, size=(nh, nw), mode='bicubic', antialias=True
                )
                top, left = (nh - s) // 2, (nw - s) // 2
                x = x[..., top : top + s, left : left + s]
            x = (x.clamp(0, 255) - mean) / std
            out.append(x[0])
        return torch.stack(out).to(dtype)

    # -------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        pixel_values: Tensor,
        position_ids: Optional[Tensor] = None,
    ) -> Dict[str, Tensor]:
        """Run LLaVA over whole dialogues (teacher forcing).

        Args:
            input_ids (Tensor): Shape (B, L), image tokens expanded.
            attention_mask (Tensor): Shape (B, L), 1 for real tokens.
            pixel_values (Tensor): Shape (B, 3, S, S) from
                :meth:`preprocess_images`, one image per dialogue.
            position_ids (Tensor, optional): Shape (B, L). Defaults to the
                count of real tokens before each one, so that left and right
                padding give the positions of the unpadded sequence (as
                ``generate`` does).

        Returns:
            dict: ``hidden_states`` (B, L, D), the last layer's output, and
            ``logits`` (B, L, V).
        """
        if position_ids is None:
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = self.model.model(
            input_ids=input_ids,
            pixel_values=pixel_values,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
        )
        hidden = out.last_hidden_state
        return dict(hidden_states=hidden, logits=self.model.lm_head(hidden))

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        pixel_values: Tensor,
        max_new_tokens: int,
        **kwargs,
    ) -> Tensor:
        """Greedy generation (``model.generate``) from left-padded prompts.

        Returns:
            Tensor: Shape (B, L + T): the prompts then the new tokens; a
            finished row is padded with the pad id after its EOS.
        """
        kwargs.setdefault('do_sample', False)
        return self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            pixel_values=pixel_values,
            max_new_tokens=int(max_new_tokens),
            pad_token_id=self.pad_token_id,
            eos_token_id=self.eos_token_id,
            **kwargs,
        )

    def decode(self, ids: Sequence[int]) -> str:
        """Text of generated ids; [SEG] and [REJ] kept, EOS/pad dropped."""
        drop = {self.pad_token_id, self.eos_token_id}
        if self.tokenizer.bos_token_id is not None:
            drop.add(self.tokenizer.bos_token_id)
        keep: List[int] = [int(i) for i in ids if int(i) not in drop]
        return self.tokenizer.decode(keep).strip()

    def extra_repr(self) -> str:
        return (
            f'name_or_path={self.name_or_path!r}, '
            f'vocab={len(self.tokenizer)}, '
            f'image_tokens={self.num_image_tokens}'
        )
