package storage

import (
	"reflect"
	"testing"
)

func TestReachClause(t *testing.T) {
	cases := []struct {
		r    Reach
		sql  string
		args []any
	}{
		{ReachAll(), "1 = 1", nil},
		{Reach{}, "1 = 0", nil},
		{ReachOnly("email"), "t.department_id IN (?)", []any{"email"}},
		{ReachOnly("email", "billing"), "t.department_id IN (?, ?)", []any{"email", "billing"}},
	}
	for _, c := range cases {
		sql, args := c.r.clause("t.department_id")
		if sql != c.sql || !reflect.DeepEqual(args, c.args) {
			t.Errorf("%+v: got %q %v, want %q %v", c.r, sql, args, c.sql, c.args)
		}
	}
	if !ReachAll().Allows("x") || ReachOnly("a").Allows("b") || !ReachOnly("a", "b").Allows("b") || (Reach{}).Allows("a") {
		t.Error("Allows disagrees with the clause")
	}
}
