# Copyright (c) mmgres contributors. All rights reserved.
"""A text encoder over HuggingFace ``transformers`` models."""

import copy
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS, TOKENIZER
from mmgres.utils import OptMultiConfig

# Architectures of the text encoders that mmgres configs name, so that a model
# can be built without reading a config file from the hub or the disk.  The
# values are those of the public ``config.json`` files.
KNOWN_TEXT_ARCHS: Dict[str, dict] = {
    'bert-base-uncased': dict(
        model_type='bert',
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act='gelu',
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
        pad_token_id=0,
    ),
    'roberta-base': dict(
        model_type='roberta',
        vocab_size=50265,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act='gelu',
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    ),
}
for _alias, _name in [
    ('google-bert/bert-base-uncased', 'bert-base-uncased'),
    ('FacebookAI/roberta-base', 'roberta-base'),
]:
    KNOWN_TEXT_ARCHS[_alias] = KNOWN_TEXT_ARCHS[_name]


@MODELS.register_module()
class HFTextEncoder(BaseModule):
    """Text encoder over ``transformers`` ``AutoModel`` / ``AutoTokenizer``.

    Building never touches the network or the disk: the architecture comes
    from ``model_cfg`` (or from :data:`KNOWN_TEXT_ARCHS` for the names that
    mmgres configs use), weights are random until :meth:`init_weights` loads
    ``pretrained`` with ``from_pretrained``, and the tokenizer is loaded
    lazily on the first call.

    Args:
        name_or_path (str): Hub name or local directory of the model, e.g.
            ``'bert-base-uncased'`` or ``'data/pretrained/bert-base-uncased'``.
            It names the architecture (when ``model_cfg`` is None) and is the
            default tokenizer and pretrained-weight source.
        model_cfg (dict, optional): The ``transformers`` config as a dict,
            with ``model_type`` (e.g. ``dict(model_type='bert',
            hidden_size=768, ...)``). Defaults to the known architecture of
            ``name_or_path``.
        pretrained (bool | str): Load pretrained weights in
            :meth:`init_weights`: True loads ``name_or_path``; a string loads
            that name or directory; False keeps the random weights.
            Defaults to True.
        tokenizer (dict, optional): The tokenizer, built with
            ``TOKENIZER.build`` on first use, e.g.
            ``dict(type='SyntheticWordPieceTokenizer')`` for tiny configs.
            Defaults to ``dict(type='AutoTokenizer',
            name_or_path=name_or_path)``. Its length must not exceed the
            model's ``vocab_size``.
        max_length (int): Longest token sequence, special tokens included;
            longer expressions are truncated. Defaults to 20.
        pad_to_max_length (bool): Pad every batch to ``max_length`` rather
            than to its longest expression. Defaults to False.
        pooling (str, optional): How the sentence embedding is made:
            ``'pooler'`` (the model's pooler, e.g. BERT's tanh(W·[CLS])),
            ``'cls'`` (the first token's feature), ``'mean'`` (mean over
            non-padding tokens) or None (no sentence embedding, for models
            that read only the token features). With any value but
            ``'pooler'`` the model's pooler is frozen. Defaults to
            ``'pooler'``.
        frozen (bool): Freeze all weights and keep the model in eval mode.
            Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(
        self,
        name_or_path: str = 'bert-base-uncased',
        model_cfg: Optional[dict] = None,
        pretrained: Union[bool, str] = True,
        tokenizer: Optional[dict] = None,
        max_length: int = 20,
        pad_to_max_length: bool = False,
        pooling: Optional[str] = 'pooler',
        frozen: bool = False,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        from transformers import AutoConfig, AutoModel

        if model_cfg is None:
            if name_or_path not in KNOWN_TEXT_ARCHS:
                raise ValueError(
                    f'HFTextEncoder: no architecture is known for '
                    f'{name_or_path!r}; give `model_cfg` (the transformers '
                    f'config as a dict with `model_type`). Known names: '
                    f'{sorted(KNOWN_TEXT_ARCHS)}.'
                )
            model_cfg = KNOWN_TEXT_ARCHS[name_or_path]
        model_cfg = copy.deepcopy(dict(model_cfg))
        if 'model_type' not in model_cfg:
            raise ValueError(
                'HFTextEncoder: `model_cfg` needs a `model_type`'
                f' key, got {sorted(model_cfg)}.'
            )
        if pooling not in ('pooler', 'cls', 'mean', None):
            raise ValueError(
                f'Unknown pooling {pooling!r}; expected one of '
                "'pooler', 'cls', 'mean' or None."
            )
        if max_length < 2:
            raise ValueError(f'max_length must be >= 2, got {max_length}.')
        self.name_or_path = name_or_path
        self.pretrained = pretrained
        if tokenizer is None:
            tokenizer = dict(type='AutoTokenizer', name_or_path=name_or_path)
        if not isinstance(tokenizer, dict) or 'type' not in tokenizer:
            raise TypeError(
                'HFTextEncoder: `tokenizer` must be a TOKENIZER config dict '
                f"with a 'type', got {tokenizer!r}."
            )
        self.tokenizer_cfg = copy.deepcopy(dict(tokenizer))
        self.max_length = max_length
        self.pad_to_max_length = pad_to_max_length
        self.pooling = pooling
        self.frozen = frozen

        self.hf_config = AutoConfig.for_model(**model_cfg)
        kwargs = {}
        if pooling == 'pooler':
            kwargs['add_pooling_layer'] = True
        try:
            self.model = AutoModel.from_config(self.hf_config, **kwargs)
        except TypeError:
            self.model = AutoModel.from_config(self.hf_config)
        if pooling == 'pooler' and getattr(self.model, 'pooler', None) is None:
            raise ValueError(
                f'{type(self.model).__name__} has no pooler; '
                "use pooling='cls' or 'mean'."
            )
        pooler = getattr(self.model, 'pooler', None)
        if pooling != 'pooler' and pooler is not None:
            # Nothing reads the pooler then, and a trainable parameter
            # without a gradient makes DDP fail. Frozen rather than not built
            # (add_pooling_layer=False): its weights stay in the state dict,
            # so HF checkpoints and mmgres checkpoints (with their optimizer
            # states) load as before; it costs one C x C layer per batch.
            pooler.requires_grad_(False)
        self._tokenizer = None
        if frozen:
            self._freeze()

    @property
    def embed_dims(self) -> int:
        """Width of the token features."""
        return self.hf_config.hidden_size

    @property
    def tokenizer(self):
        """The tokenizer, built from ``tokenizer`` on first use."""
        if self._tokenizer is None:
            tok = TOKENIZER.build(copy.deepcopy(self.tokenizer_cfg))
            if len(tok) > self.hf_config.vocab_size:
                raise ValueError(
                    f'HFTextEncoder: the tokenizer {self.tokenizer_cfg} has '
                    f'{len(tok)} tokens, more than model_cfg.vocab_size='
                    f'{self.hf_config.vocab_size}.'
                )
            self._tokenizer = tok
        return self._tokenizer

    def __getstate__(self):
        # tokenizers can be rebuilt; keep deepcopy/pickle cheap and safe
        state = self.__dict__.copy()
        state['_tokenizer'] = None
        return state

    def _freeze(self) -> None:
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.model.eval()
        return self

    def init_weights(self) -> None:
        """Load pretrained weights with ``from_pretrained``, if asked to.

        The HF model's own random initialisation stays otherwise; mmengine's
        ``init_cfg`` (e.g. ``Pretrained`` from an mmengine checkpoint) is
        applied after.
        """
        source = self.pretrained
        if source is True:
            source = self.name_or_path
        if source:
            from transformers import AutoModel

            hf = AutoModel.from_pretrained(source)
            missing, unexpected = self.model.load_state_dict(
                hf.state_dict(), strict=False
            )
            print_log(
                f'HFTextEncoder: loaded {source} '
                f'(missing {len(missing)}, unexpected {len(unexpected)})',
                logger='current',
            )
            del hf
        if self.init_cfg:
            super().init_weights()
        if self.frozen:
            self._freeze()

    def tokenize(
        self,
        texts: Sequence[str],
        device: Union[str, torch.device, None] = None,
    ) -> dict:
        """Tokenize a batch of expressions.

        Args:
            texts (Sequence[str]): B expressions.
            device: Where to put the tensors. Defaults to the model's device.

        Returns:
            dict: ``input_ids`` and ``attention_mask`` of shape (B, L), and
            ``token_type_ids`` where the model uses them.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise ValueError('HFTextEncoder.tokenize got no expression.')
        enc = self.tokenizer(
            texts,
            padding='max_length' if self.pad_to_max_length else 'longest',
            truncation=True,
            max_length=self.max_length,
            return_tensors='pt',
        )
        if device is None:
            device = next(self.model.parameters()).device
        return {k: v.to(device) for k, v in enc.items()}

    def forward(
        self,
        texts: Union[Sequence[str], None] = None,
        tokens: Optional[dict] = None,
    ) -> Dict[str, Tensor]:
        """Encode expressions.

        Args:
            texts (Sequence[str], optional): B expressions.
            tokens (dict, optional): Output of :meth:`tokenize`, used instead
                of ``texts``.

        Returns:
            dict:

            - ``token_feats`` (Tensor): Shape (B, L, C).
            - ``attention_mask`` (Tensor): Shape (B, L), 1 for real tokens.
            - ``padding_mask`` (Tensor): Shape (B, L), bool, True for padding
              (``key_padding_mask`` of ``nn.MultiheadAttention``).
            - ``sentence_feat`` (Tensor): Shape (B, C); absent when
              ``pooling`` is None.
            - ``input_ids`` (Tensor): Shape (B, L).
        """
        if tokens is None:
            if texts is None:
                raise ValueError('HFTextEncoder needs `texts` or `tokens`.')
            tokens = self.tokenize(texts)
        inputs = {
            k: v
            for k, v in tokens.items()
            if k in ('input_ids', 'attention_mask', 'token_type_ids')
        }
        out = self.model(**inputs)
        feats = out.last_hidden_state
        mask = inputs['attention_mask']
        result = dict(
            token_feats=feats,
            attention_mask=mask,
            padding_mask=mask == 0,
            input_ids=inputs['input_ids'],
        )
        if self.pooling == 'pooler':
            result['sentence_feat'] = out.pooler_output
        elif self.pooling == 'cls':
            result['sentence_feat'] = feats[:, 0]
        elif self.pooling == 'mean':
            m = mask.unsqueeze(-1).to(feats.dtype)
            result['sentence_feat'] = (feats * m).sum(1) / m.sum(1).clamp(
                min=1.0
            )
        return result

    def extra_repr(self) -> str:
        return (
            f'name_or_path={self.name_or_path!r}, '
            f'max_length={self.max_length}, pooling={self.pooling!r}, '
            f'frozen={self.frozen}'
        )
