# The synthetic gRefCOCO-format benchmark (mmgres' embedded default data).
# Generate it first:
#   python tools/dataset_converters/generate_synthetic_grefcoco.py \
#       --out-dir data/synthetic_grefcoco
# Layout: grefs(unc).json, instances.json, images/<file_name>.
# Small images for tiny CPU models: everything is resized to 128x128.
# Training draws one sentence per ref and flips with the text-aware
# RandomFlip (left <-> right is swapped in the expression).
dataset_type = 'GRefCOCODataset'
data_root = 'data/synthetic_grefcoco/'
backend_args = None
img_scale = (128, 128)

# Tokenizers over the benchmark's own word list (44 words), for the tiny text
# encoders trained from scratch, which refer to one of them as their
# `tokenizer`: WordPiece for BERT / BEiT-3 encoders, word-level for LLaVA.
synthetic_wordpiece = dict(type='SyntheticWordPieceTokenizer')
synthetic_word_level = dict(type='SyntheticWordLevelTokenizer')

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='instances.json',
        refs_file='grefs(unc).json',
        split='train',
        text_mode='random',
        data_prefix=dict(img_path='images/'),
        pipeline=train_pipeline,
        backend_args=backend_args,
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='instances.json',
        refs_file='grefs(unc).json',
        split='val',
        text_mode='all',
        data_prefix=dict(img_path='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='instances.json',
        refs_file='grefs(unc).json',
        split='testA',
        text_mode='all',
        data_prefix=dict(img_path='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)

# Box models add dict(type='GRECMetric') (as a list with this one).
val_evaluator = dict(type='GRESMetric')
test_evaluator = val_evaluator

# tools/test.py --tta: this test pipeline, each sample also mirrored with
# "left"/"right" swapped in its expression (FlipTestTimeAug)
tta_pipeline = test_pipeline[:-1] + [dict(type='FlipTestTimeAug')]
