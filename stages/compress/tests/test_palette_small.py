import numpy as np

from spaceport_compress.palette import similarity_order


def test_similarity_order_of_a_palette_smaller_than_three_entries():
    for size in (1, 2, 3):
        centroids = np.random.default_rng(size).normal(size=(size, 9))
        assert sorted(similarity_order(centroids).tolist()) == list(range(size))
