// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(plan-memory))' | filecheck %s
// RUN: avalon-opt %s --pass-pipeline='builtin.module(func.func(plan-memory))' --pass-statistics \
// RUN:   -o /dev/null 2>&1 | filecheck %s --check-prefix=STATS

// The per-row scratch buffer leaves the loop (one allocation instead of four); %c is born
// after %a's last use (the transposing copy), has as many elements, and becomes a reshape of
// %a's memory; every buffer is freed right after the op that last touches it.
// CHECK-LABEL: func.func @stages
// CHECK-NEXT:    %[[ROW:.*]] = memory.alloc() : memref<8xf32>
// CHECK:         %[[A:.*]] = memory.alloc() : memref<4x8xf32>
// CHECK:         %[[B:.*]] = memory.alloc() : memref<8x4xf32>
// CHECK-NEXT:    %[[T:.*]] = memory.transpose %[[A]] [1, 0]
// CHECK-NEXT:    memory.copy %[[T]], %[[B]]
// CHECK-NEXT:    %[[C:.*]] = memory.reshape %[[A]] : memref<4x8xf32> to memref<32xf32>
// CHECK-NEXT:    loop.for
// CHECK-NOT:       memory.alloc
// CHECK-NOT:       memory.dealloc
// CHECK:           memory.store %{{.*}}, %[[C]][%{{.*}}] : memref<32xf32>
// CHECK:         memory.dealloc %[[ROW]] : memref<8xf32>
// CHECK-NEXT:    memory.dealloc %[[B]] : memref<8x4xf32>
// CHECK-NEXT:    %[[CV:.*]] = memory.reshape %[[C]] : memref<32xf32> to memref<4x8xf32>
// CHECK-NEXT:    memory.copy %[[CV]], %arg1
// CHECK-NEXT:    memory.dealloc %[[A]] : memref<4x8xf32>
// CHECK-NEXT:    return
func.func @stages(%x: memref<4x8xf32>, %out: memref<4x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %a = memory.alloc() : memref<4x8xf32>
  loop.for %i = %c0 to %c4 step %c1 {
    loop.for %j = %c0 to %c8 step %c1 {
      %v = memory.load %x[%i, %j] : memref<4x8xf32>
      %w = arith.addf %v, %v : f32
      memory.store %w, %a[%i, %j] : memref<4x8xf32>
    }
  }
  %b = memory.alloc() : memref<8x4xf32>
  %t = memory.transpose %a [1, 0] : memref<4x8xf32> to memref<8x4xf32, strided<[1, 8]>>
  memory.copy %t, %b : memref<8x4xf32, strided<[1, 8]>> to memref<8x4xf32>
  %c = memory.alloc() : memref<32xf32>
  loop.for %i = %c0 to %c4 step %c1 {
    %row = memory.alloc() : memref<8xf32>
    loop.for %j = %c0 to %c8 step %c1 {
      %v = memory.load %b[%j, %i] : memref<8x4xf32>
      memory.store %v, %row[%j] : memref<8xf32>
    }
    loop.for %j = %c0 to %c8 step %c1 {
      %v = memory.load %row[%j] : memref<8xf32>
      %k = arith.muli %i, %c8 : index
      %l = arith.addi %k, %j : index
      memory.store %v, %c[%l] : memref<32xf32>
    }
    memory.dealloc %row : memref<8xf32>
  }
  %cv = memory.reshape %c : memref<32xf32> to memref<4x8xf32>
  memory.copy %cv, %out : memref<4x8xf32> to memref<4x8xf32>
  memory.dealloc %a : memref<4x8xf32>
  memory.dealloc %b : memref<8x4xf32>
  memory.dealloc %c : memref<32xf32>
  return
}

// A returned buffer is neither shared nor freed, even though %tmp is dead when it is born;
// an allocation nothing uses disappears with its deallocation.
// CHECK-LABEL: func.func @escapes
// CHECK:         %[[TMP:.*]] = memory.alloc() : memref<4xf32>
// CHECK:         memory.load %[[TMP]]
// CHECK-NEXT:    memory.dealloc %[[TMP]] : memref<4xf32>
// CHECK-NEXT:    %[[RET:.*]] = memory.alloc() : memref<4xf32>
// CHECK-NEXT:    memory.fill %{{.*}}, %[[RET]] : memref<4xf32>
// CHECK-NEXT:    return %[[RET]] : memref<4xf32>
func.func @escapes(%x: memref<4xf32>) -> memref<4xf32> {
  %c0 = arith.constant 0 : index
  %tmp = memory.alloc() : memref<4xf32>
  memory.copy %x, %tmp : memref<4xf32> to memref<4xf32>
  %v = memory.load %tmp[%c0] : memref<4xf32>
  %unused = memory.alloc() : memref<64xf32>
  memory.dealloc %unused : memref<64xf32>
  %ret = memory.alloc() : memref<4xf32>
  memory.fill %v, %ret : memref<4xf32>
  return %ret : memref<4xf32>
}

// STATS:      PlanMemory (plan-memory)
// STATS-NEXT:   (S) 1 num-reused - allocations replaced by a view of another buffer
// STATS-NEXT:   (S) 1 num-hoisted-allocs - allocations moved out of loops and conditionals
// STATS-NEXT:   (S) 1 num-removed-allocs - unused allocations erased
// STATS-NEXT:   (S) 4 num-deallocs - deallocations placed
