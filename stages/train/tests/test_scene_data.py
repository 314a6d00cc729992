"""Training images are held at working size as 8-bit and converted per use (bounded memory)."""

import numpy as np
import torch
from PIL import Image

from spaceport_train.scene_data import load_scene


def test_views_hold_8_bit_pixels_at_working_size_and_give_float_images(synth_model):
    scene = load_scene(synth_model, max_image_size=160, test_every=8)
    views = scene.train + scene.test
    assert len(views) == 12
    for view in views:
        assert view.pixels.dtype == torch.uint8
        assert (view.width, view.height) == (160, 120)  # 320x240 shrunk to a 160 px long side
        image = view.image
        assert image.dtype == torch.float32 and image.shape == (120, 160, 3)
        assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    first = views[0]
    with Image.open(synth_model / "images" / first.name) as img:
        expected = np.asarray(img.convert("RGB").resize((160, 120), Image.Resampling.LANCZOS))
    assert torch.equal(first.pixels, torch.from_numpy(expected.copy()))
    assert torch.allclose(first.image * 255.0, first.pixels.float(), atol=1e-3)
