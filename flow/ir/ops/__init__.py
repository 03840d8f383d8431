"""The project's op domain `flow.ir.ops`, discovered by qonnx's custom-op registry via `__all__`."""
from flow.ir.ops.compute import MVAU, VVAU, Thresholding
from flow.ir.ops.dynamic_pool import DynamicPool, DynamicPoolQ
from flow.ir.ops.streams import (AddStreams, ConvolutionInputGenerator1D, DuplicateStreams, FMPadding1D,
                                 LabelSelect, StreamingDataWidthConverter, StreamingFIFO)

__all__ = ["AddStreams", "ConvolutionInputGenerator1D", "DuplicateStreams", "DynamicPool", "DynamicPoolQ", "FMPadding1D", "LabelSelect",
           "MVAU", "StreamingDataWidthConverter", "StreamingFIFO", "Thresholding", "VVAU"]
