# GSVA-Vicuna-7B on gRefCOCO as the release (LeapLabTHU/GSVA) runs it: the
# setting of its published weights (gsva-7b-ft-gres.bin, converted by
# tools/model_converters/gsva2mmgres.py) and of its published numbers. The
# model, schedule and data are the paper config's; each value below is the
# release's where its code differs from the paper's text. Not reproduced:
# the release draws its training answers from several templates
# (ANSWER_LIST_MODE4_*); ours are "Sure, e:[SEG]".
_base_ = ['./gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py']

model = dict(
    mllm=dict(
        image_start_end=True,  # release: use_mm_start_end=True
        # release: use_fast=False, i.e. the legacy sentencepiece behaviour;
        # no name_or_path: the tokenizer of mllm.name_or_path
        tokenizer=dict(type='AutoTokenizer', use_fast=True, legacy=True),
    ),
    conversation=dict(
        max_expressions=3,  # release: --num_classes_per_sample 3
        # release (data/dataset.py ValDataset), verbatim
        test_question=(
            ' What are {objs}in this image? Please output segmentation masks.'
        ),
        prefix_separator='',  # release: "Sure,e1:[SEG], e2:[REJ]."
        image_start='<im_start>',
        image_end='<im_end>',
        # expressions lower-cased, leading/trailing periods stripped
        expression_style='release',
    ),
    # release (solver.py: eval_gres): all of an image's expressions in one
    # teacher-forced dialogue; a slot keeps its fed token only when that
    # token is the argmax over the whole vocabulary; the mask of a slot
    # decided [REJ] is still decoded and kept as pred_sem_seg_raw.
    # max_expressions: unused by this protocol
    test_cfg=dict(protocol='release', max_expressions=3),
)

sam_resize = dict(
    type='Resize',
    scale=(1024, 1024),
    keep_ratio=True,
    backend='pillow',  # release: ResizeLongestSide(1024) resizes with PIL
    interpolation='bilinear',
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # release: CLIPImageProcessor on the original image (short side 224,
    # PIL bicubic, centre crop 224), before any resize
    dict(type='CLIPImageInput'),
    dict(type='LoadReferringAnnotations'),
    sam_resize,
    dict(type='PackReferringInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='CLIPImageInput'),
    sam_resize,
    dict(type='LoadReferringAnnotations'),
    dict(type='PackReferringInputs'),
]
train_dataloader = dict(
    batch_size=6,  # 2 dialogues x 3 expressions
    sampler=dict(batch_size=6, max_per_image=3),
    dataset=dict(pipeline=train_pipeline),
)
# one batch per image, of all its expressions (data/dataset.py ValDataset):
# its refs in file order, each ref's sentences in order. With several GPUs
# whole images go to the ranks in turn, without the release's padding (its
# DistributedSampler repeats a few images to even the ranks out).
val_dataloader = dict(
    batch_size=1,  # unused by ImageBatchSampler; the Runner passes it on
    sampler=dict(_delete_=True, type='ImageShardSampler'),
    batch_sampler=dict(type='ImageBatchSampler'),
    dataset=dict(pipeline=test_pipeline),
)
test_dataloader = val_dataloader
# solver.py: eval_gres scores a target expression answered [REJ] by the
# mask the model decoded for it (read from pred_sem_seg_raw), and adds the
# predicted pixels of a no-target expression answered [SEG] to the cIoU
# union on gRefCOCO (fn_union=True; False for its Ref-ZOM numbers).
val_evaluator = dict(type='GRESMetric', nt_rule='gsva_release')
test_evaluator = val_evaluator
