package rbac_test

import (
	"testing"

	"github.com/nuxari/nuxari/governance/rbac"
)

func TestParseRole(t *testing.T) {
	for _, r := range rbac.Roles {
		if got, err := rbac.ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "Owner", "root", "owner "} {
		if _, err := rbac.ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) accepted", s)
		}
	}
}

func TestAllowsAndCovers(t *testing.T) {
	tests := []struct {
		role rbac.Role
		perm rbac.Permission
		want bool
	}{
		{rbac.Owner, rbac.RolesManage, true},
		{rbac.Admin, rbac.RolesManage, false},
		{rbac.Admin, rbac.LedgerAppend, true},
		{rbac.Auditor, rbac.LedgerRead, true},
		{rbac.Auditor, rbac.LedgerAppend, false},
		{rbac.Readonly, rbac.LedgerRead, false},
		{rbac.Requester, rbac.MembersRead, false},
		{rbac.Readonly, rbac.Authenticated, true},
		{rbac.Role("root"), rbac.Authenticated, false},
		{rbac.Role(""), rbac.Public, true},
	}
	for _, tt := range tests {
		if got := rbac.Allows(tt.role, tt.perm); got != tt.want {
			t.Errorf("Allows(%s, %s) = %v, want %v", tt.role, tt.perm, got, tt.want)
		}
	}
	if !rbac.Covers(rbac.Owner, rbac.Admin) || rbac.Covers(rbac.Admin, rbac.Owner) ||
		!rbac.Covers(rbac.Auditor, rbac.Readonly) || rbac.Covers(rbac.Admin, rbac.Auditor) || rbac.Covers(rbac.Auditor, rbac.Admin) ||
		!rbac.Covers(rbac.Readonly, rbac.Readonly) || rbac.Covers(rbac.Role("x"), rbac.Readonly) {
		t.Error("Covers disagrees with the grants")
	}
}
