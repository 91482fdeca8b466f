"""network.layers: a network written as its list of layers, beside the mlp and paper_cnn shorthands."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_PARITY, config_with

from neurosim.errors import ConfigError
from neurosim.model import build
from neurosim.nn.shapes import paper_cnn
from neurosim.simulation import Simulation
from neurosim.spec.fields import to_plain
from neurosim.spec.loader import config_from_yaml

PAPER_D2 = ("[{conv: 2}, {conv: 2}, {pool: 2}, {conv: 4}, {conv: 4}, pool, {conv: 8}, {conv: 8}, {pool: 2}, "
            "flatten, {dense: 8}, {dense: 8}, {dense: classes}]")


def test_the_paper_cnn_written_out_is_the_shorthand() -> None:
    listed = build(config_with("network.kind=layers", f"network.layers={PAPER_D2}",
                               workload="workloads/fashion-cnn.yaml"))
    assert listed.net == paper_cnn(2, (28, 28, 1), 10, "tanh", "identity")


def test_an_mlp_written_out_is_the_shorthand_and_runs_compiled() -> None:
    shorthand = config_with(*TINY_PARITY)
    parity = [s for s in TINY_PARITY if not s.startswith("network.hidden")]
    listed = config_with(*parity, "network.kind=layers",
                         "network.layers=[{dense: 6}, {dense: classes}]")
    assert build(listed).net == build(shorthand).net
    a, b = Simulation(shorthand, iterations=200).run(), Simulation(listed, iterations=200).run()
    assert a.summary.engine_path == b.summary.engine_path == "compiled chip-mode kernels"
    assert a.summary.final_train_cost == b.summary.final_train_cost


def test_a_small_listed_cnn_with_its_own_activations_trains(fashion_data_dir) -> None:
    config = config_with("network.kind=layers", "network.layers=[{conv: 2, activation: relu}, {pool: 2}, "
                         "{conv: 2}, pool, {dense: 8, activation: sigmoid}, {dense: classes}]",
                         "dataset.options={train_size: 500, test_size: 200}", "train.eval_size=200",
                         "train.eval_interval=20", "mgd.lr_hold_iterations=0", "train.eval_schedule=interval",
                         "mgd.batch_size=10", workload="workloads/fashion-cnn.yaml")
    sim = Simulation(config, iterations=40, data_dir=str(fashion_data_dir))
    net = sim.net
    assert [(l.name, l.kind, l.activation, l.pool) for l in net.layers] == [
        ("conv1", "conv3x3", "relu", True), ("conv2", "conv3x3", "tanh", True),
        ("dense1", "dense", "sigmoid", False), ("dense2", "dense", "identity", False)]
    assert net.layers[2].in_shape == (7 * 7 * 2,)
    result = sim.run()
    assert result.summary.iterations == 40
    # the run file's form of the layers reads back as the same network
    plain = to_plain(config.workload)
    import yaml
    again = config_from_yaml(yaml.safe_dump({"chip": to_plain(config.chip)}), yaml.safe_dump(plain), "<test>")
    assert again.workload.network == config.workload.network


@pytest.mark.parametrize("layers, key, message", [
    ("[{pool: 2}, {dense: classes}]", "network.layers[0]", "follows a convolution"),
    ("[{dense: 4}, {conv: 2}, {dense: classes}]", "network.layers[1]", "after flatten or a dense"),
    ("[{conv: 2}]", "network.layers[0]", "last layer must be dense"),
    ("[{dense: classes}, {dense: 3}]", "network.layers", "only the last dense"),
    ("[{dense: 4, conv: 2}]", "network.layers[0]", "exactly one layer type"),
    ("[{lstm: 4}]", "network.layers[0]", "exactly one layer type"),
    ("[{dense: 0}]", "network.layers[0].dense", "expected a value >= 1"),
    ("[{conv: 2}, {pool: 3}, {dense: classes}]", "network.layers[1].pool", "only 2x2"),
    ("[{dense: 4, activation: swish}, {dense: classes}]", "network.layers[0].activation", "expected one of"),
    ("[{dense: 4, width: 2}, {dense: classes}]", "network.layers[0].width", "takes no such key"),
    ("[{flatten: 3}, {dense: classes}]", "network.layers[0].flatten", "takes no value"),
    ("7", "network.layers", "expected a list of layers"),
])
def test_bad_layer_lists_name_the_entry(layers: str, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        config_with("network.kind=layers", f"network.layers={layers}")
    assert info.value.key == key


def test_layers_need_kind_layers_and_the_output_fits_the_task() -> None:
    with pytest.raises(ConfigError, match="applies to kind: layers") as info:
        config_with("network.layers=[{dense: classes}]")
    assert info.value.key == "network.layers"
    with pytest.raises(ConfigError, match="needs a list of layers"):
        config_with("network.kind=layers")
    with pytest.raises(ConfigError, match="has 4 classes"):
        build(config_with("network.kind=layers", "network.layers=[{dense: 8}, {dense: 3}]"))
    parity = [s for s in TINY_PARITY if not s.startswith("network.hidden")]
    with pytest.raises(ConfigError, match="needs image") as info:
        build(config_with(*parity, "network.kind=layers", "network.layers=[{conv: 2}, {dense: classes}]"))
    assert info.value.key == "network.layers"
    with pytest.raises(ConfigError, match="needs image") as info:  # the data laid out for it: the same key
        Simulation(config_with(*parity, "network.kind=layers", "network.layers=[{conv: 2}, {dense: classes}]"))
    assert info.value.key == "network.layers"


def test_a_layer_type_without_its_math_says_so_rather_than_computing_something() -> None:
    """Layer math is registered per shape type (nn/compute.py); a new type that has none fails by name."""
    import dataclasses

    from neurosim.errors import NeurosimError
    from neurosim.mgd.fused import _kernel_layer
    from neurosim.nn import compute
    from neurosim.nn.shapes import LayerShape

    @dataclasses.dataclass(frozen=True)
    class Strange(LayerShape):
        kind = "strange"

    layer = Strange("strange1", (4,), (3,), "identity")
    w, b = np.zeros((4, 3), np.float32), np.zeros(3, np.float32)
    with pytest.raises(NotImplementedError, match="pre_activation is not written for Strange layers .strange1."):
        compute.pre_activation(layer, np.zeros((2, 4), np.float32), w, b, np.zeros((2, 3), np.float32))
    with pytest.raises(NotImplementedError, match="local_product"):
        compute.local_product(layer, np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32))
    with pytest.raises(NeurosimError, match="strange1: compiled chip mode has no kernel for Strange layers"):
        _kernel_layer(layer)
