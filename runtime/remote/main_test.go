package remote_test

import (
	"testing"

	"github.com/microstack-go/microstack/runtime/remote"
	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m, remote.LeakOptions()...) }
