# Tiny GSVA pre-training on stand-ins of the mixture (ours): the first stage
# of the paper's recipe (configs/gsva/gsva_llava-7b_sam-vit-h_8xb2-50k_
# pretrain-mixture.py) at toy size. Semantic segmentation (ADE20K- and
# COCO-Stuff-format label maps, PACO-LVIS- and PASCAL-Part-format parts),
# referring segmentation (the synthetic gRefCOCO), VQA (LLaVA-Instruct
# format) and reasoning segmentation (ReasonSeg format), drawn 9 : 6 : 3 : 1
# by RatioMixtureSampler. Data:
#   python tools/dataset_converters/generate_synthetic_grefcoco.py
#   python tools/dataset_converters/generate_synthetic_mixture.py
# Second stage: the tiny gRefCOCO config from this run's last checkpoint,
#   python tools/train.py configs/gsva/gsva_tiny_1xb8-8e_synthetic-grefcoco.py \
#       --cfg-options load_from=work_dirs/gsva_tiny_1xb8-40i_synthetic-\
#       pretrain-mixture/iter_40.pth
_base_ = [
    '../_base_/models/gsva_tiny.py',
    '../_base_/datasets/synthetic_grefcoco.py',
    '../_base_/schedules/gsva_tiny_cpu.py',
    '../_base_/default_runtime.py',
]

model = dict(mllm=dict(tokenizer={{_base_.synthetic_word_level}}))

mixture_root = 'data/synthetic_mixture/'
img_scale = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackReferringInputs'),
]
sem_seg_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadClassMask'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackReferringInputs'),
]
# mmgres.datasets.synthetic.mixture's classes: the shapes (ADE20K format,
# 0 = unlabelled) and the colours (COCO-Stuff format, 255 = unlabelled)
ade20k = dict(
    type='SemSegReferDataset',
    dataset=dict(
        type='mmseg.BaseSegDataset',
        metainfo=dict(classes=('circle', 'square', 'triangle', 'diamond')),
        data_root=mixture_root,
        data_prefix=dict(
            img_path='ade20k/images/training',
            seg_map_path='ade20k/annotations/training',
        ),
        img_suffix='.jpg',
        seg_map_suffix='.png',
        reduce_zero_label=True,
    ),
    pipeline=sem_seg_pipeline,
)
cocostuff = dict(
    type='SemSegReferDataset',
    dataset=dict(
        type='mmseg.BaseSegDataset',
        metainfo=dict(classes=('red', 'green', 'blue', 'yellow', 'purple')),
        data_root=mixture_root,
        data_prefix=dict(
            img_path='cocostuff/images/train2017',
            seg_map_path='cocostuff/annotations/train2017',
        ),
        img_suffix='.jpg',
        seg_map_suffix='_labelTrainIds.png',
    ),
    pipeline=sem_seg_pipeline,
)
paco_lvis = dict(
    type='PacoLvisReferDataset',
    data_root=mixture_root,
    ann_file='vlpart/paco/annotations/paco_lvis_v1_train.json',
    data_prefix=dict(img_path='coco/'),
    pipeline=train_pipeline,
)
pascal_part = dict(
    type='PascalPartReferDataset',
    data_root=mixture_root,
    ann_file='vlpart/pascal_part/train.json',
    data_prefix=dict(
        img_path='vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages/'
    ),
    pipeline=train_pipeline,
)
grefcoco = dict(
    type='GRefCOCODataset',
    data_root='data/synthetic_grefcoco/',
    ann_file='instances.json',
    refs_file='grefs(unc).json',
    split='train',
    data_prefix=dict(img_path='images/'),
    pipeline=train_pipeline,
)
llava_instruct = dict(
    type='LlavaInstructDataset',
    data_root=mixture_root,
    ann_file='llava_dataset/llava_instruct_150k.json',
    data_prefix=dict(img_path='coco/train2017/'),
    pipeline=train_pipeline,
)
reason_seg = dict(
    type='ReasonSegDataset',
    data_root=mixture_root + 'reason_seg/ReasonSeg/',
    split='train',
    pipeline=train_pipeline,
)
train_dataloader = dict(
    batch_size=8,
    sampler=dict(
        _delete_=True,
        type='RatioMixtureSampler',
        # 9 : 6 : 3 : 1 over the tasks, as the full config
        ratios=[9 / 4] * 4 + [6, 3, 1],
        max_per_image=[5] * 5 + [1, 5],
    ),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            ade20k,
            cocostuff,
            paco_lvis,
            pascal_part,
            grefcoco,
            llava_instruct,
            reason_seg,
        ],
    ),
)

max_iters = 40
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters,
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        by_epoch=False,
        begin=0,
        end=max_iters,
    ),
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    logger=dict(interval=10),
)
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
