"""Compiler-runtime helpers that LLVM's generated code may call but this process lacks.

On x86-64, LLVM lowers conversions to ``half`` and ``bfloat`` that have no instruction (all of
them without F16C, and f64 -> f16 / anything -> bf16 even with it) to calls of compiler-rt
functions (``__truncsfhf2`` ...). Python does not link compiler-rt, so we define them here in
LLVM IR, compile them once per process and publish their addresses with
``llvm.add_symbol`` before any generated object code is loaded.

All conversions round to nearest, ties to even, and turn NaN into a quiet NaN of the same sign.
f64 -> f16/bf16 round to odd at f32 first, which makes the second rounding exact (round to
odd keeps a sticky bit; f32 has more than twice the bits of either target format plus two).
"""

from __future__ import annotations

import threading

import llvmlite.binding as llvm

from avalon.backends.cpu.target import create_target_machine, host_target, initialize_llvm

_SOURCE = r"""
define internal float @avalon.rto.f32(double %x) alwaysinline {
  %r = fptrunc double %x to float
  %back = fpext float %r to double
  %exact = fcmp oeq double %back, %x
  %nan = fcmp uno double %x, %x
  %keep = or i1 %exact, %nan
  %ax = call double @llvm.fabs.f64(double %x)
  %ab = call double @llvm.fabs.f64(double %back)
  %away = fcmp ogt double %ab, %ax
  %rb = bitcast float %r to i32
  %dec = sub i32 %rb, 1
  %t = select i1 %away, i32 %dec, i32 %rb
  %odd = or i32 %t, 1
  %oddf = bitcast i32 %odd to float
  %res = select i1 %keep, float %r, float %oddf
  ret float %res
}

define internal i16 @avalon.f32.to.bf16bits(float %x) alwaysinline {
  %b = bitcast float %x to i32
  %nan = fcmp uno float %x, %x
  %hi = lshr i32 %b, 16
  %lsb = and i32 %hi, 1
  %bias = add i32 %lsb, 32767
  %sum = add i32 %b, %bias
  %rounded = lshr i32 %sum, 16
  %quiet = or i32 %hi, 64
  %sel = select i1 %nan, i32 %quiet, i32 %rounded
  %r = trunc i32 %sel to i16
  ret i16 %r
}

define internal i16 @avalon.f32.to.f16bits(float %x) alwaysinline {
entry:
  %b = bitcast float %x to i32
  %sign = and i32 %b, 2147483648
  %a = xor i32 %b, %sign
  %big = icmp uge i32 %a, 1199570944
  br i1 %big, label %overflow, label %finite
overflow:
  %isnan = icmp ugt i32 %a, 2139095040
  %ov = select i1 %isnan, i32 32256, i32 31744
  br label %done
finite:
  %tiny = icmp ult i32 %a, 947912704
  br i1 %tiny, label %subnormal, label %normal
subnormal:
  %af = bitcast i32 %a to float
  %sf = fadd float %af, 5.000000e-01
  %sb = bitcast float %sf to i32
  %sub = sub i32 %sb, 1056964608
  br label %done
normal:
  %m = lshr i32 %a, 13
  %odd = and i32 %m, 1
  %a1 = add i32 %a, -939520001
  %a2 = add i32 %a1, %odd
  %nrm = lshr i32 %a2, 13
  br label %done
done:
  %o = phi i32 [ %ov, %overflow ], [ %sub, %subnormal ], [ %nrm, %normal ]
  %s16 = lshr i32 %sign, 16
  %res = or i32 %o, %s16
  %r = trunc i32 %res to i16
  ret i16 %r
}

define float @__extendhfsf2(half %h) {
entry:
  %hb = bitcast half %h to i16
  %h32 = zext i16 %hb to i32
  %mag = and i32 %h32, 32767
  %o0 = shl i32 %mag, 13
  %exp = and i32 %o0, 260046848
  %o1 = add i32 %o0, 939524096
  %isinf = icmp eq i32 %exp, 260046848
  br i1 %isinf, label %special, label %check
special:
  %o2 = add i32 %o1, 939524096
  br label %done
check:
  %iszero = icmp eq i32 %exp, 0
  br i1 %iszero, label %subnormal, label %done
subnormal:
  %o3 = add i32 %o1, 8388608
  %f3 = bitcast i32 %o3 to float
  %f4 = fsub float %f3, 0x3F10000000000000
  %o4 = bitcast float %f4 to i32
  br label %done
done:
  %o = phi i32 [ %o2, %special ], [ %o1, %check ], [ %o4, %subnormal ]
  %sgn = and i32 %h32, 32768
  %sgn32 = shl i32 %sgn, 16
  %res = or i32 %o, %sgn32
  %f = bitcast i32 %res to float
  ret float %f
}

define half @__truncsfhf2(float %x) {
  %bits = call i16 @avalon.f32.to.f16bits(float %x)
  %h = bitcast i16 %bits to half
  ret half %h
}

define half @__truncdfhf2(double %x) {
  %f = call float @avalon.rto.f32(double %x)
  %bits = call i16 @avalon.f32.to.f16bits(float %f)
  %h = bitcast i16 %bits to half
  ret half %h
}

define bfloat @__truncsfbf2(float %x) {
  %bits = call i16 @avalon.f32.to.bf16bits(float %x)
  %h = bitcast i16 %bits to bfloat
  ret bfloat %h
}

define bfloat @__truncdfbf2(double %x) {
  %f = call float @avalon.rto.f32(double %x)
  %bits = call i16 @avalon.f32.to.bf16bits(float %f)
  %h = bitcast i16 %bits to bfloat
  ret bfloat %h
}

declare double @llvm.fabs.f64(double)
"""

#: The helper symbols this module defines.
SYMBOLS = ("__extendhfsf2", "__truncsfhf2", "__truncdfhf2", "__truncsfbf2", "__truncdfbf2")

_LOCK = threading.Lock()
_engine: llvm.ExecutionEngine | None = None


def ensure_runtime_symbols() -> None:
    """Compile the helpers once per process and register their addresses for the JIT's
    symbol resolution (idempotent, thread-safe)."""
    global _engine
    with _LOCK:
        if _engine is not None:
            return
        initialize_llvm()
        mod = llvm.parse_assembly(_SOURCE)
        mod.triple = host_target().triple
        mod.verify()
        engine = llvm.create_mcjit_compiler(mod, create_target_machine(2))
        engine.finalize_object()
        for name in SYMBOLS:
            llvm.add_symbol(name, engine.get_function_address(name))
        _engine = engine  # kept alive for the life of the process: the code must stay mapped
