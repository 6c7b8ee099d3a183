package rpc

import (
	"errors"
	"testing"

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
	err = EnumAtField(EnumAtIndex(EnumAtField(colors.Check("blue"), "color"), 2), "items")
	assert.Equal(t, `items[2].color: "blue" is not a Color (want "red" or "green")`, err.Error())
	err = EnumAtKey(EnumAtField(colors.Check("x"), "odd name"), "k")
	assert.Equal(t, `["k"]["odd name"]: "x" is not a Color (want "red" or "green")`, err.Error())

	arg := EnumArgument("shape", err)
	var pe *Error
	require.ErrorAs(t, arg, &pe)
	assert.Equal(t, CodeInvalidArgument, pe.Code)
	assert.Equal(t, `argument shape: ["k"]["odd name"]: "x" is not a Color (want "red" or "green")`, pe.Message)

	levels := NewEnum("Level", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	assert.Equal(t, `13 is not a Level (want 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 or …)`, levels.Check(13).Error(), "long lists are cut")

	plain := errors.New("other")
	assert.Same(t, plain, EnumAtField(plain, "x"), "other errors pass through untouched")
}
