"""Arrays borrowed for the length of one compiled call, without reference counting.

numba counts references to every array a compiled function hands to another (and to every view it makes)
with an atomic increment and decrement, which its pruning pass removes only within simple control flow. In
the chip-mode cycle loop they were 55 pairs a NIST7x7 cycle, 44% of its compiled time in a perf profile. A borrowed array is
the same array with no owner (a null meminfo), for which numba's increment and decrement return at once:
safe wherever the caller keeps the arrays alive for the whole call and none of them escapes it.
"""

from __future__ import annotations

from numba.core import cgutils, types
from numba.extending import intrinsic


@intrinsic
def borrowed(typingctx, array):  # noqa: ANN001, ANN201 (numba's intrinsic protocol)
    """The array itself, not owned (None stays None): its views and the calls it is passed to count no
    references."""
    if isinstance(array, types.NoneType):
        return array(array), lambda context, builder, signature, args: args[0]
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        view = context.make_array(signature.args[0])(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()
    return array(array), codegen
