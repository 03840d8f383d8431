"""Writing the generated sources of one accelerator into `<build>/hls/`."""
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from flow.codegen.compile import KERNELS_DIR
from flow.codegen.network import Network, build_network
from flow.codegen.sources import cyclesim_source, network_header, testbench_source, top_source


def write_sources(model: ModelWrapper, hls_dir: Path, in_beat_bits: int = 64) -> Network:
    """network.h, top.cpp, tb_csim.cpp, cyclesim.cpp for a folded graph, and a copy of the kernel
    library in kernels/ so the folder builds on a machine with the vendor tools; returns the network."""
    net = build_network(model, in_beat_bits)
    hls_dir.mkdir(parents=True, exist_ok=True)
    files = {f"kernels/{p.relative_to(KERNELS_DIR)}": p.read_text() for p in sorted(KERNELS_DIR.rglob("*.h"))}
    files |= {"network.h": network_header(net), "top.cpp": top_source(net), "tb_csim.cpp": testbench_source(net),
             "cyclesim.cpp": cyclesim_source(net)}
    for name, text in files.items():
        path = hls_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:  # unchanged files keep their compile cache valid
            path.write_text(text)
    return net
