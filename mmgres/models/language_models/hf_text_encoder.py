# Copyright (c) mmgres contributors. All rights reserved.
"""A text encoder over HuggingFace ``transformers`` models."""

import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from torch import Tensor

from mmgres.registry import MODELS
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

_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']


def build_wordpiece_tokenizer(
    vocab: Sequence[str], lowercase: bool = True, model_max_length: int = 512
):
    """Build a BERT-style WordPiece tokenizer from a word list, in memory.

    For tiny configs and tests: nothing is read from the hub or the disk.
    The special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` take ids 0-4, then
    ``vocab`` follows in order (duplicates dropped). A word outside
    ``vocab`` becomes ``[UNK]``, and a warning names it, once per text.

    Args:
        vocab (Sequence[str]): Words of the vocabulary.
        lowercase (bool): Lower-case the text first. Defaults to True.
        model_max_length (int): Longest sequence the tokenizer allows.

    Returns:
        WordListTokenizerFast: the tokenizer (a
        ``transformers.PreTrainedTokenizerFast``).
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing

    from mmgres.models.utils.word_list_tokenizer import WordListTokenizerFast

    words = list(dict.fromkeys([*_SPECIALS, *vocab]))
    tok = Tokenizer(
        models.WordPiece(
            {w: i for i, w in enumerate(words)}, unk_token='[UNK]'
        )
    )
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = words.index('[CLS]'), words.index('[SEP]')
    tok.post_processor = TemplateProcessing(
        single='[CLS] $A [SEP]',
        pair='[CLS] $A [SEP] $B:1 [SEP]:1',
        special_tokens=[('[CLS]', cls_id), ('[SEP]', sep_id)],
    )
    return WordListTokenizerFast(
        tokenizer_object=tok,
        unk_token='[UNK]',
        pad_token='[PAD]',
        cls_token='[CLS]',
        sep_token='[SEP]',
        mask_token='[MASK]',
        model_max_length=model_max_length,
    )


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
        tokenizer (str, optional): Where to load the tokenizer from.
            Defaults to ``name_or_path``.
        vocab (Sequence[str] | str, optional): Build an in-memory WordPiece
            tokenizer over these words instead of loading one (for tiny
            configs and tests): a word list, ``'synthetic'`` (the synthetic
            benchmark's vocabulary, ``SYNTHETIC_VOCAB``), or the path of a
            text file with one word per line (read on first use).
            ``model_cfg['vocab_size']`` must cover it.
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
        gradient_checkpointing (bool): Turn on activation checkpointing of
            the HF model. Defaults to False.
        init_cfg (dict or list[dict], optional): Initialization config.
    """

    def __init__(
        self,
        name_or_path: str = 'bert-base-uncased',
        model_cfg: Optional[dict] = None,
        pretrained: Union[bool, str] = True,
        tokenizer: Optional[str] = None,
        vocab: Optional[Sequence[str]] = None,
        max_length: int = 20,
        pad_to_max_length: bool = False,
        pooling: Optional[str] = 'pooler',
        frozen: bool = False,
        gradient_checkpointing: bool = False,
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
        self.tokenizer_source = tokenizer or name_or_path
        self.vocab = self._resolve_vocab(vocab)
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
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self._tokenizer = None
        if (
            isinstance(self.vocab, list)
            and len(self.vocab) + len(_SPECIALS) > self.hf_config.vocab_size
        ):
            raise ValueError(
                f'vocab has {len(self.vocab)} words plus {len(_SPECIALS)} '
                f'special tokens, more than model_cfg.vocab_size='
                f'{self.hf_config.vocab_size}.'
            )
        if frozen:
            self._freeze()

    @staticmethod
    def _resolve_vocab(vocab):
        if vocab is None or not isinstance(vocab, str):
            return None if vocab is None else list(vocab)
        if vocab == 'synthetic':
            from mmgres.datasets.synthetic import SYNTHETIC_VOCAB

            return list(SYNTHETIC_VOCAB)
        return vocab  # a word-list file, read on first use

    def _vocab_words(self) -> List[str]:
        if isinstance(self.vocab, list):
            return self.vocab
        try:
            with open(self.vocab, encoding='utf-8') as f:
                words = [w.strip() for w in f if w.strip()]
        except OSError as e:
            raise FileNotFoundError(
                f'HFTextEncoder: cannot read vocab file {self.vocab!r}: {e}'
            ) from e
        if len(words) + len(_SPECIALS) > self.hf_config.vocab_size:
            raise ValueError(
                f'vocab file {self.vocab} has {len(words)} words, more than '
                f'model_cfg.vocab_size={self.hf_config.vocab_size} allows.'
            )
        return words

    @property
    def embed_dims(self) -> int:
        """Width of the token features."""
        return self.hf_config.hidden_size

    @property
    def tokenizer(self):
        """The tokenizer, loaded on first use."""
        if self._tokenizer is None:
            if self.vocab is not None:
                self._tokenizer = build_wordpiece_tokenizer(
                    self._vocab_words(),
                    model_max_length=self.hf_config.max_position_embeddings,
                )
            else:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(
                    self.tokenizer_source
                )
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


def tiny_text_encoder_cfg(
    vocab: Optional[List[str]] = None,
    hidden_size: int = 32,
    num_layers: int = 2,
    **kwargs,
) -> dict:
    """Config dict of a tiny random BERT for tests and tiny configs."""
    vocab = vocab or []
    cfg = dict(
        type='HFTextEncoder',
        name_or_path='tiny-bert',
        model_cfg=dict(
            model_type='bert',
            vocab_size=max(64, len(vocab) + len(_SPECIALS)),
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=max(1, hidden_size // 16),
            intermediate_size=hidden_size * 2,
            max_position_embeddings=64,
        ),
        pretrained=False,
        vocab=vocab,
    )
    cfg.update(kwargs)
    return cfg
