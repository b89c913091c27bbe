"""The GSVA release's image preprocessing: CLIP input from the original
image (CLIPImageInput) and SAM's ResizeLongestSide through mmcv's Resize."""

import numpy as np
import pytest
from mmcv.transforms import Resize
from PIL import Image

from mmgres.datasets.transforms import CLIPImageInput
from mmgres.datasets.transforms.clip_input import clip_resize_shape
from mmgres.registry import TRANSFORMS


def _image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def test_clip_resize_shape_hand_values():
    # 224 * 640 / 480 = 298.67 -> 298 (truncated); portrait is transposed
    assert clip_resize_shape(480, 640, 224) == (224, 298)
    assert clip_resize_shape(640, 480, 224) == (298, 224)
    assert clip_resize_shape(300, 300, 224) == (224, 224)
    # 224 * 427 / 640... short side 427: 224 * 640 / 427 = 335.7 -> 335
    assert clip_resize_shape(427, 640, 224) == (224, 335)


@pytest.mark.parametrize('shape', [(37, 53), (61, 29), (224, 224), (5, 300)])
def test_clip_input_equals_transformers_processor(shape):
    from transformers import CLIPImageProcessorPil

    rgb = _image(*shape)
    ref = CLIPImageProcessorPil()(rgb, return_tensors='np')['pixel_values']
    bgr = rgb[..., ::-1].copy()  # mmcv loads BGR
    out = TRANSFORMS.build(dict(type='CLIPImageInput'))(dict(img=bgr))
    assert out['clip_img'].shape == (3, 224, 224)
    assert out['clip_img'].dtype == np.float32
    np.testing.assert_allclose(out['clip_img'], ref[0], atol=1e-5)


def test_clip_input_hand_value_uniform_image():
    # a uniform image stays uniform under bicubic: (v/255 - mean) / std
    img = np.full((10, 20, 3), (10, 20, 30), np.uint8)  # BGR
    out = CLIPImageInput(size=4, crop_size=4)(dict(img=img))['clip_img']
    rgb = np.array([30, 20, 10]) / 255
    expect = (rgb - np.array([0.48145466, 0.4578275, 0.40821073])) / np.array(
        [0.26862954, 0.26130258, 0.27577711]
    )
    np.testing.assert_allclose(out[:, 0, 0], expect, atol=1e-6)
    np.testing.assert_allclose(out, np.broadcast_to(out[:, :1, :1], out.shape))


def test_clip_input_bad_input():
    with pytest.raises(ValueError, match='uint8'):
        CLIPImageInput()(dict(img=np.zeros((4, 4, 3), np.float32)))
    with pytest.raises(ValueError, match='crop_size'):
        CLIPImageInput(size=100, crop_size=224)


def _sam_preprocess_shape(oldh, oldw, long_side):
    # segment-anything's ResizeLongestSide.get_preprocess_shape, re-derived
    scale = long_side * 1.0 / max(oldh, oldw)
    return int(oldh * scale + 0.5), int(oldw * scale + 0.5)


@pytest.mark.parametrize('shape', [(480, 640), (427, 640), (333, 500)])
def test_mmcv_pillow_resize_is_resize_longest_side(shape):
    """The release feeds SAM ``ResizeLongestSide(1024).apply_image``: the
    size above and torchvision's PIL resize (bilinear) of the uint8 RGB
    image. mmcv's Resize with ``backend='pillow'`` gives the same array."""
    h, w = shape
    # hand values: 1024 / 640 * 480 = 768; 1024 / 640 * 427 = 683.2 -> 683;
    # 1024 / 500 * 333 = 681.98 -> 682
    expect = {(480, 640): (768, 1024), (427, 640): (683, 1024)}
    expect[(333, 500)] = (682, 1024)
    assert _sam_preprocess_shape(h, w, 1024) == expect[shape]
    rgb = _image(h, w, seed=1)
    nh, nw = expect[shape]
    ref = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR))
    resize = Resize(
        scale=(1024, 1024),
        keep_ratio=True,
        backend='pillow',
        interpolation='bilinear',
    )
    out = resize(dict(img=rgb.copy()))
    assert out['img'].shape[:2] == (nh, nw)
    np.testing.assert_array_equal(out['img'], ref)


def test_clip_input_is_the_plain_formula_bit_for_bit():
    # the transform's fast path against the formula written out: RGB,
    # PIL bicubic, centre crop, (x / 255 - mean) / std in float32, CHW
    bgr = _image(480, 640, seed=2)
    out = CLIPImageInput()(dict(img=bgr.copy()))['clip_img']
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    x = np.asarray(Image.fromarray(rgb).resize((298, 224), Image.BICUBIC))
    x = x[:, 37:261].astype(np.float32)  # (298 - 224) // 2 = 37
    mean = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
    std = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
    x = (x * np.float32(1 / 255) - mean) / std
    assert out.flags['C_CONTIGUOUS'] and out.shape == (3, 224, 224)
    np.testing.assert_array_equal(out, x.transpose(2, 0, 1))
