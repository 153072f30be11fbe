// RUN: avalon-opt %s --pass-pipeline='builtin.module(hoist)' | filecheck %s
// RUN: avalon-opt %s --pass-pipeline='builtin.module(hoist{noalias-args=true})' \
// RUN:   | filecheck %s --check-prefix=NOALIAS
// RUN: avalon-opt %s --pass-pipeline='builtin.module(hoist)' --pass-statistics -o /dev/null \
// RUN:   2>&1 | filecheck %s --check-prefix=STATS

// The constant and the product of invariants leave both loops; the load of the row's first
// element leaves the inner loop (it depends on %i); %out is a fresh allocation, so storing to
// it cannot change %a.
// CHECK-LABEL: func.func @scale_rows
// CHECK:         %[[OUT:.*]] = memory.alloc() : memref<4x8xf32>
// CHECK-NEXT:    %[[TWO:.*]] = arith.constant 2.0 : f32
// CHECK-NEXT:    %[[K:.*]] = arith.mulf %arg1, %[[TWO]] : f32
// CHECK-NEXT:    loop.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:      %[[FIRST:.*]] = memory.load %arg0[%[[I]], %{{.*}}] : memref<4x8xf32>
// CHECK-NEXT:      loop.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:        %[[X:.*]] = memory.load %arg0[%[[I]], %[[J]]] : memref<4x8xf32>
// CHECK-NEXT:        %[[Y:.*]] = arith.mulf %[[X]], %[[FIRST]] : f32
// CHECK-NEXT:        %[[Z:.*]] = arith.addf %[[Y]], %[[K]] : f32
// CHECK-NEXT:        memory.store %[[Z]], %[[OUT]][%[[I]], %[[J]]] : memref<4x8xf32>
func.func @scale_rows(%a: memref<4x8xf32>, %s: f32) -> memref<4x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %out = memory.alloc() : memref<4x8xf32>
  loop.for %i = %c0 to %c4 step %c1 {
    loop.for %j = %c0 to %c8 step %c1 {
      %two = arith.constant 2.0 : f32
      %k = arith.mulf %s, %two : f32
      %first = memory.load %a[%i, %c0] : memref<4x8xf32>
      %x = memory.load %a[%i, %j] : memref<4x8xf32>
      %y = arith.mulf %x, %first : f32
      %z = arith.addf %y, %k : f32
      memory.store %z, %out[%i, %j] : memref<4x8xf32>
    }
  }
  return %out : memref<4x8xf32>
}


// Nothing moves: the loop may run zero times (%n), and %acc is written in the loop.
// CHECK-LABEL: func.func @accumulate
// CHECK:         memory.store
// CHECK-NEXT:    loop.for
// CHECK-NEXT:      memory.load %arg0
// CHECK-NEXT:      memory.load
// CHECK-NEXT:      arith.addf
// CHECK-NEXT:      memory.store
func.func @accumulate(%a: memref<4xf32>, %n: index) -> memref<1xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %acc = memory.alloc() : memref<1xf32>
  %zero = arith.constant 0.0 : f32
  memory.store %zero, %acc[%c0] : memref<1xf32>
  loop.for %i = %c0 to %n step %c1 {
    %bias = memory.load %a[%c0] : memref<4xf32>
    %old = memory.load %acc[%c0] : memref<1xf32>
    %new = arith.addf %old, %bias : f32
    memory.store %new, %acc[%c0] : memref<1xf32>
  }
  return %acc : memref<1xf32>
}

// Two arguments may be one array: the store to %out may change %a[0], so the load stays,
// unless the caller promises distinct arguments.
// CHECK-LABEL: func.func @shift
// CHECK:         loop.for
// CHECK-NEXT:      memory.load %arg0
// NOALIAS-LABEL: func.func @shift
// NOALIAS:         %[[FIRST:.*]] = memory.load %arg0
// NOALIAS-NEXT:    loop.for
// NOALIAS-NEXT:      memory.load %arg0
// NOALIAS-NEXT:      arith.addf %{{.*}}, %[[FIRST]]
func.func @shift(%a: memref<4xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  loop.for %i = %c0 to %c4 step %c1 {
    %first = memory.load %a[%c0] : memref<4xf32>
    %x = memory.load %a[%i] : memref<4xf32>
    %y = arith.addf %x, %first : f32
    memory.store %y, %out[%i] : memref<4xf32>
  }
  return
}

// STATS:      Hoist (hoist)
// STATS-NEXT:   (S) 5 num-hoisted - ops moved out of a loop
