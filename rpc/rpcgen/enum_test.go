package rpcgen

import (
	"errors"
	"testing"

	"github.com/parley-go/parley/jsruntime"
	"github.com/parley-go/parley/rpc"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnum(t *testing.T) {
	t.Parallel()
	colors := NewEnum("Color", "red", "green", "red")
	assert.NoError(t, colors.Check("red"))
	assert.NoError(t, colors.Check("green"))

	err := colors.Check("blue")
	var e *EnumError
	require.ErrorAs(t, err, &e)
	assert.Equal(t, `"blue" is not a Color (want "red" or "green")`, err.Error(), "a value given twice counts once")

	// Steps are added innermost first, as generated checks unwind.
	err = AtField(AtIndex(AtField(colors.Check("blue"), "color"), 2), "items")
	assert.Equal(t, `items[2].color: "blue" is not a Color (want "red" or "green")`, err.Error())
	err = AtKey(AtField(colors.Check("x"), "odd name"), "k")
	assert.Equal(t, `["k"]["odd name"]: "x" is not a Color (want "red" or "green")`, err.Error())

	arg := ArgumentError("shape", err)
	var pe *rpc.Error
	require.ErrorAs(t, arg, &pe)
	assert.Equal(t, rpc.CodeInvalidArgument, pe.Code)
	assert.Equal(t, `argument shape: ["k"]["odd name"]: "x" is not a Color (want "red" or "green")`, pe.Message)

	levels := NewEnum("Level", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	assert.Equal(t, `13 is not a Level (want 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 or …)`, levels.Check(13).Error(), "long lists are cut")

	assert.NoError(t, colors.CheckOptional(""), "an omitted optional field is valid")
	assert.NoError(t, colors.CheckOptional("green"))
	assert.EqualError(t, colors.CheckOptional("blue"), `"blue" is not a Color (want "red" or "green")`)
	assert.Error(t, colors.Check(""), "the zero value is valid only where it may be omitted")

	plain := errors.New("other")
	assert.Same(t, plain, AtField(plain, "x"), "other errors pass through untouched")
}

func TestIntegerErrors(t *testing.T) {
	t.Parallel()
	err := AtField(AtKey(AtIndex(jsruntime.CheckInteger(int64(1<<53)), 1), 7), "ids")
	var ue *jsruntime.UnsafeIntegerError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, `ids["7"][1]`, ue.Path())

	var pe *rpc.Error
	require.ErrorAs(t, ArgumentError("m", err), &pe)
	assert.Equal(t, rpc.CodeInvalidArgument, pe.Code)
	assert.Equal(t, `argument m: ids["7"][1]: integer 9007199254740992 cannot be represented exactly in JavaScript (the limit is ±9007199254740991)`, pe.Message)

	require.ErrorAs(t, ResultError(jsruntime.CheckIntegers([]int64{-1 << 60})), &pe)
	assert.Equal(t, rpc.CodeOutOfRange, pe.Code)
	assert.Equal(t, "result: [0]: integer -1152921504606846976 cannot be represented exactly in JavaScript (the limit is ±9007199254740991)", pe.Message)
}
