"""Tiny GSVA configs (random LLaVA, CLIP and SAM; in-memory tokenizer) and
fake batches where several samples show the same image."""

import copy

from mmgres.models.tokenizers import split_words
from mmgres.testing import (
    DEMO_TEXTS,
    demo_grounding_inputs,
    tiny_llava_cfg,
    tiny_sam_cfg,
)

VOCAB = sorted(
    {w for t in DEMO_TEXTS for w in split_words(t)}
    | {'a', 'cat', 'dog', 'circle', 'red'}
)

TINY_LORA = dict(
    r=4, lora_alpha=8, lora_dropout=0.0, target_modules=['q_proj', 'v_proj']
)


def tiny_mllm_cfg(**kwargs):
    cfg = dict(
        type='LlavaMLLM',
        model_cfg=tiny_llava_cfg(),
        pretrained=False,
        tokenizer=dict(type='WordLevelTokenizer', words=VOCAB),
        lora_cfg=copy.deepcopy(TINY_LORA),
    )
    cfg.update(kwargs)
    return cfg


def tiny_sam_segmentor_cfg(**kwargs):
    cfg = dict(
        type='HFSamSegmentor', model_cfg=tiny_sam_cfg(), pretrained=False
    )
    cfg.update(kwargs)
    return cfg


def tiny_gsva_cfg(test_cfg=None, conversation=None, **kwargs):
    return dict(
        **kwargs,
        type='GSVA',
        data_preprocessor=dict(
            type='DetDataPreprocessor',
            mean=None,
            std=None,
            bgr_to_rgb=True,
            pad_size_divisor=1,
        ),
        mllm=tiny_mllm_cfg(),
        mask_head=dict(
            type='GSVAMaskHead', segmentor=tiny_sam_segmentor_cfg()
        ),
        conversation=conversation
        or dict(type='GSVAConversationBuilder', max_expressions=3),
        test_cfg=test_cfg or dict(mode='teacher_forced'),
    )


def same_image_batch(size=64, seed=0):
    """Four samples: 0, 1, 2 show one image (0 is no-target), 3 another
    image (a target). Every sample has a distinct expression."""
    inputs, samples = demo_grounding_inputs(
        batch_size=4,
        image_shape=(size, size),
        num_instances=2,
        no_target_first=True,
        texts=('a cat', 'the red circle', 'the big blue square', 'a dog'),
        seed=seed,
    )
    for i in (1, 2):
        inputs[i] = inputs[0]
    for i, s in enumerate(samples):
        s.set_metainfo(dict(img_path=f'img{0 if i < 3 else 1}.png'))
    return inputs, samples
