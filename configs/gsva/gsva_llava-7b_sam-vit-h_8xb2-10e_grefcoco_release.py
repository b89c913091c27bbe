# GSVA-Vicuna-7B on gRefCOCO as the GSVA release (LeapLabTHU/GSVA) runs it:
# the setting for its published weights (gsva-7b-ft-gres.bin, converted by
# tools/model_converters/gsva2mmgres.py) and its published numbers. The
# model, schedule and data are those of the paper config
# (gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py); where the release differs
# from the paper's text:
# - 3 expressions per dialogue in training (num_classes_per_sample=3; the
#   paper's appendix E says 5), so a batch of 2 dialogues is 6 samples;
# - prompt: the image is wrapped as <im_start><image><im_end>
#   (use_mm_start_end=True); the test question and answer are written as
#   data/dataset.py writes them: "<image>\n What are e1, e2in this image?
#   Please output segmentation masks." and "Sure,e1:[SEG], e2:[REJ].", the
#   expressions lower-cased and stripped of leading/trailing periods;
# - tokenizer: the slow LLaMA tokenizer's (legacy) sentencepiece behaviour,
#   a leading '▁' on every piece between added tokens (legacy=True);
# - CLIP input: CLIPImageProcessor on the original image (short side 224,
#   PIL bicubic, centre crop 224), not a crop of the SAM frame;
# - SAM input: ResizeLongestSide(1024), i.e. PIL bilinear (mmcv's Resize
#   with backend='pillow'), padded to 1024 after SAM's normalisation;
# - evaluation (test_cfg.protocol='release', solver.py: eval_gres): all of
#   an image's expressions in the batch in one teacher-forced dialogue, each
#   slot decided by an argmax over the whole vocabulary against the fed
#   token, and the mask of a slot decided [REJ] still decoded and kept as
#   pred_sem_seg_raw (the release scores it on target samples);
# - evaluation batches (ValDataset): one image with all its expressions
#   (ImageShardSampler + ImageBatchSampler), its refs in file order, each
#   ref's sentences in order; with several GPUs whole images go to the
#   ranks in turn, without the release's padding (its DistributedSampler
#   repeats a few images to even the ranks out and counts them twice).
# Not yet reproduced here: the release's training answers are drawn from
# several templates (ANSWER_LIST_MODE4_*), ours use "Sure, e:[SEG]".
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
        prefix_separator='',
        image_start='<im_start>',
        image_end='<im_end>',
        expression_style='release',
    ),
    # max_expressions: unused by the release protocol, which asks about all
    # of an image's expressions at once
    test_cfg=dict(protocol='release', max_expressions=3),
)

sam_resize = dict(
    type='Resize',
    scale=(1024, 1024),
    keep_ratio=True,
    backend='pillow',  # ResizeLongestSide resizes with PIL
    interpolation='bilinear',
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='CLIPImageInput'),  # before any resize: the original image
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
# the release protocol asks about them in one dialogue
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
