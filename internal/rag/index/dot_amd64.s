//go:build amd64 && !purego

#include "textflag.h"

// func dotCodesAVX2(a *int16, b *int8, n int) int32
//
// The dot product of n int16s at a and n int8s at b, n a positive multiple
// of 16: each step widens 16 int8s to int16s (VPMOVSXBW), multiplies them
// by 16 int16s and adds neighbouring products into 8 int32s (VPMADDWD),
// two steps at a time into two sums.
TEXT ·dotCodesAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1

pairs:
	CMPQ CX, $32
	JLT  single
	VPMOVSXBW (DI), Y2
	VPMADDWD  (SI), Y2, Y2
	VPADDD    Y2, Y0, Y0
	VPMOVSXBW 16(DI), Y3
	VPMADDWD  32(SI), Y3, Y3
	VPADDD    Y3, Y1, Y1
	ADDQ      $32, DI
	ADDQ      $64, SI
	SUBQ      $32, CX
	JMP       pairs

single:
	CMPQ CX, $16
	JLT  sum
	VPMOVSXBW (DI), Y2
	VPMADDWD  (SI), Y2, Y2
	VPADDD    Y2, Y0, Y0

sum:
	VPADDD       Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4E, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xB1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, AX
	MOVL         AX, ret+24(FP)
	VZEROUPPER
	RET
