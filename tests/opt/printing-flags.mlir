// RUN: avalon-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC
// GENERIC:      "builtin.module"() ({
// GENERIC-NEXT:   "func.func"() ({
// GENERIC-NEXT:     %0 = "arith.constant"() {value = dense<{{.*}}> : tensor<6xf32>} : () -> tensor<6xf32>
// GENERIC-NEXT:     "func.return"(%0) : (tensor<6xf32>) -> ()

// RUN: avalon-opt %s --print-debuginfo | filecheck %s --check-prefix=LOC
// LOC: arith.constant {{.*}} loc("{{.*}}printing-flags.mlir":[[# @LINE + 12]]:8)

// RUN: avalon-opt %s --elide-elementsattrs-if-larger=4 | filecheck %s --check-prefix=ELIDE
// ELIDE: arith.constant dense_resource<__elided__> : tensor<6xf32>

// Generic output parses back, and the round trip is stable.
// RUN: avalon-opt %s --print-op-generic | avalon-opt - | filecheck %s --check-prefix=BACK
// BACK: arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf32>

// RUN: avalon-opt %s -o %t.out.mlir && filecheck %s --check-prefix=FILE --input-file %t.out.mlir
// FILE: func.func @f() -> tensor<6xf32>
func.func @f() -> tensor<6xf32> {
  %c = arith.constant dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf32>
  return %c : tensor<6xf32>
}
