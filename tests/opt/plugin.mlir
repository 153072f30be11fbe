// A user's Python file of passes loads with --load-pass-plugin (see docs/pass-authoring.md).
// RUN: avalon-opt %s --load-pass-plugin=%root/examples/plugins/my_passes.py \
// RUN:   --pass-pipeline='builtin.module(func.func(mul-by-two))' | filecheck %s
// CHECK-LABEL: func.func @double
// CHECK:         %[[S:.*]] = arith.addf %arg0, %arg0 : f32
// CHECK-NOT:     arith.mulf
// CHECK:         return %[[S]] : f32

// Plugin passes get flags too, and show up in --list-passes.
// RUN: avalon-opt %s --load-pass-plugin=%root/examples/plugins/my_passes.py --mul-by-two \
// RUN:   | filecheck %s
// RUN: avalon-opt --load-pass-plugin=%root/examples/plugins/my_passes.py --list-passes \
// RUN:   | filecheck %s --check-prefix=LIST
// LIST:      count-ops  (runs on func.func)
// LIST-NEXT:   Report how many ops of a dialect each function contains.
// LIST-NEXT:   dialect=<str> (default arith): the dialect whose ops are counted

// A plugin that does not exist is a plain error.
// RUN: not avalon-opt %s --load-pass-plugin=%S/plugins/missing.py 2>&1 \
// RUN:   | filecheck %s --check-prefix=MISSING
// MISSING: avalon-opt: error: pass plugin '{{.*}}missing.py' does not exist
func.func @double(%x: f32) -> f32 {
  %two = arith.constant 2.0 : f32
  %y = arith.mulf %two, %x : f32
  return %y : f32
}
