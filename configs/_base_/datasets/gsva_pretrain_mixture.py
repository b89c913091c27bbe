# GSVA's pre-training mixture (GSVA appendix A, "Pretraining"): semantic
# segmentation, referring segmentation, VQA and reasoning segmentation drawn
# 9 : 6 : 3 : 1; inside a task every dataset is equally likely, as the
# release draws one uniformly (LeapLabTHU/GSVA data/sem_seg_dataset.py and
# data/refer_seg_dataset.py: random.randint over the task's datasets).
# Files, in the release's layout under data/ (see
# docs/en/user_guides/dataset_prepare.md):
#   ade20k/{images,annotations}/training/
#   mapillary/training/{images,v2.0/labels}/
#   coco/train2017/    cocostuff/train2017/*_labelTrainIds.png
#   vlpart/paco/annotations/paco_lvis_v1_train.json   (images: coco/)
#   vlpart/pascal_part/train.json, vlpart/pascal_part/VOCdevkit/VOC2010/
#   refer_seg/{refclef,refcoco,refcoco+,refcocog,grefcoco}/
#   refer_seg/images/{saiapr_tc-12,mscoco/images/train2014}/
#   llava_dataset/llava_instruct_150k.json             (images: coco/)
#   reason_seg/ReasonSeg/{train,val,explanatory}/
data_root = 'data/'
backend_args = None

# the GSVA configs' pipelines: SAM's frame, the long side resized to 1024
# (the model pads to 1024 x 1024)
img_scale = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadReferringAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackReferringInputs'),
]
# semantic segmentation: the mask of a class from the label map
sem_seg_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadClassMask', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]

# sem_seg: 3 classes (ADE20K, COCO-Stuff) or annotations (PACO-LVIS,
# PASCAL-Part) per image, as the release's num_classes_per_sample=3
ade20k = dict(
    type='SemSegReferDataset',
    dataset=dict(
        type='mmseg.ADE20KDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='ade20k/images/training',
            seg_map_path='ade20k/annotations/training',
        ),
    ),
    pipeline=sem_seg_pipeline,
)
cocostuff = dict(
    type='SemSegReferDataset',
    dataset=dict(
        type='mmseg.COCOStuffDataset',
        data_root=data_root,
        data_prefix=dict(
            img_path='coco/train2017', seg_map_path='cocostuff/train2017'
        ),
    ),
    pipeline=sem_seg_pipeline,
)
# Mapillary Vistas v2.0 (paper appendix A and the release): its classes'
# readable names, lower-cased; LISA's "-" rule is COCO-Stuff's only
mapillary = dict(
    type='SemSegReferDataset',
    skip_hyphen_classes=False,
    dataset=dict(
        type='mmseg.MapillaryDataset_v2',
        data_root=data_root,
        data_prefix=dict(
            img_path='mapillary/training/images',
            seg_map_path='mapillary/training/v2.0/labels',
        ),
    ),
    pipeline=sem_seg_pipeline,
)
paco_lvis = dict(
    type='PacoLvisReferDataset',
    data_root=data_root,
    ann_file='vlpart/paco/annotations/paco_lvis_v1_train.json',
    data_prefix=dict(img_path='coco/'),
    pipeline=train_pipeline,
    backend_args=backend_args,
)
pascal_part = dict(
    type='PascalPartReferDataset',
    data_root=data_root,
    ann_file='vlpart/pascal_part/train.json',
    data_prefix=dict(
        img_path='vlpart/pascal_part/VOCdevkit/VOC2010/JPEGImages/'
    ),
    pipeline=train_pipeline,
    backend_args=backend_args,
)

# refer_seg: the release's refclef||refcoco||refcoco+||refcocog (unc; umd
# for RefCOCOg), train split, plus gRefCOCO, which the paper adds to the
# pre-training (section 4.1, appendix A). One sample per ref with a sentence
# drawn on each access, as the release draws a sentence per ref.
refcoco = dict(
    type='RefCOCODataset',
    data_root=data_root,
    ann_file='refer_seg/refcoco/instances.json',
    refs_file='refer_seg/refcoco/refs(unc).p',
    split='train',
    text_mode='random',
    data_prefix=dict(img_path='refer_seg/images/mscoco/images/train2014/'),
    pipeline=train_pipeline,
    backend_args=backend_args,
)
refclef = dict(
    refcoco,
    type='RefCLEFDataset',
    ann_file='refer_seg/refclef/instances.json',
    refs_file='refer_seg/refclef/refs(unc).p',
    data_prefix=dict(img_path='refer_seg/images/saiapr_tc-12/'),
)
refcoco_plus = dict(
    refcoco,
    ann_file='refer_seg/refcoco+/instances.json',
    refs_file='refer_seg/refcoco+/refs(unc).p',
)
refcocog = dict(
    refcoco,
    ann_file='refer_seg/refcocog/instances.json',
    refs_file='refer_seg/refcocog/refs(umd).p',
    split_by='umd',
)
grefcoco = dict(
    refcoco,
    type='GRefCOCODataset',
    ann_file='refer_seg/grefcoco/instances.json',
    refs_file='refer_seg/grefcoco/grefs(unc).json',
)

# vqa: LLaVA-Instruct-150K over COCO train2017
llava_instruct = dict(
    type='LlavaInstructDataset',
    data_root=data_root,
    ann_file='llava_dataset/llava_instruct_150k.json',
    data_prefix=dict(img_path='coco/train2017/'),
    pipeline=train_pipeline,
    backend_args=backend_args,
)

# reason_seg: ReasonSeg train (explanatory/train.json read when present)
reason_seg_root = data_root + 'reason_seg/ReasonSeg/'
reason_seg = dict(
    type='ReasonSegDataset',
    data_root=reason_seg_root,
    split='train',
    pipeline=train_pipeline,
    backend_args=backend_args,
)

sem_seg_datasets = [ade20k, cocostuff, mapillary, paco_lvis, pascal_part]
refer_seg_datasets = [refclef, refcoco, refcoco_plus, refcocog, grefcoco]
vqa_datasets = [llava_instruct]
reason_seg_datasets = [reason_seg]
# GSVA appendix A: sem_seg : refer_seg : vqa : reason_seg = 9 : 6 : 3 : 1,
# each task's weight shared equally by its datasets (RatioMixtureSampler
# takes one ratio per dataset of the ConcatDataset, in order)
mixture_ratios = (
    [9 / len(sem_seg_datasets)] * len(sem_seg_datasets)
    + [6 / len(refer_seg_datasets)] * len(refer_seg_datasets)
    + [3 / len(vqa_datasets)] * len(vqa_datasets)
    + [1 / len(reason_seg_datasets)] * len(reason_seg_datasets)
)

train_dataloader = dict(
    batch_size=10,  # as the GSVA configs: 2 dialogues x 5 expressions
    num_workers=4,  # ours
    persistent_workers=True,
    sampler=dict(
        type='RatioMixtureSampler',
        ratios=mixture_ratios,
        # a draw is one image with up to k = 5 of its samples, asked about
        # in one dialogue (paper appendix E; the release draws
        # num_classes_per_sample of them), one conversation for VQA
        max_per_image=[5] * (len(sem_seg_datasets) + len(refer_seg_datasets))
        + [1] * len(vqa_datasets)
        + [5] * len(reason_seg_datasets),
    ),
    dataset=dict(
        type='ConcatDataset',
        datasets=sem_seg_datasets
        + refer_seg_datasets
        + vqa_datasets
        + reason_seg_datasets,
    ),
)
# the release validates its pre-training on ReasonSeg val (--val_dataset
# "ReasonSeg|val"; gIoU / cIoU = RESMetric's mIoU / oIoU)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='ReasonSegDataset',
        data_root=reason_seg_root,
        split='val',
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args,
    ),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='RESMetric')
test_evaluator = val_evaluator
