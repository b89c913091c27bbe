# GSVA-Vicuna-7B on gRefCOCO with PyTorch FSDP instead of DeepSpeed: the same
# recipe (paper Table 7) through mmengine's FSDPStrategy. Everything about
# FSDP is ours: SHARD_GRAD_OP shards gradients and optimizer states as
# ZeRO-2 does; bf16 compute with fp32 master weights; one FSDP unit per
# transformer block; gradient accumulation by the optimizer wrapper.
_base_ = ['./gsva_llava-7b_sam-vit-h_8xb2-10e_grefcoco.py']

# FSDPStrategy reads only its own checkpoints (here a folder of rank{i}.pth),
# not the DeepSpeed checkpoint the pre-training config writes: give an FSDP
# checkpoint of the pre-training (that config run with this file's
# strategy and optim_wrapper) with --cfg-options load_from=...
load_from = None

model = dict(
    mllm=dict(torch_dtype=None),  # fp32 master weights; bf16 compute below
    mask_head=dict(segmentor=dict(torch_dtype=None)),
)
strategy = dict(
    _delete_=True,
    type='FSDPStrategy',
    model_wrapper=dict(
        type='MMFullyShardedDataParallel',
        sharding_strategy='SHARD_GRAD_OP',
        auto_wrap_policy=dict(
            type='layer_class_name_wrap_policy',
            layer_names=[
                'LlamaDecoderLayer',
                'CLIPEncoderLayer',
                'SamVisionLayer',
            ],
        ),
        mixed_precision=dict(
            param_dtype='bfloat16',
            reduce_dtype='float32',
            buffer_dtype='bfloat16',
        ),
        use_orig_params=True,  # frozen and LoRA weights share FSDP units
    ),
    # each rank saves its shard; the weights are consolidated offline
    state_dict_cfg='local',
)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0, norm_type=2),  # paper
    accumulative_counts=10,  # paper: gradient accumulation 10
)
