package jcs_test

import (
	"fmt"

	"github.com/nuxari/nuxari/governance/jcs"
)

func ExampleCanonicalize() {
	out, err := jcs.Canonicalize([]byte(`{
		"b": [1.0, 1E21, 0.0000001, -0],
		"a": "\u00e9\u2028\/\u001F"
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+q\n", out)
	// Output: "{\"a\":\"\u00e9\u2028/\\u001f\",\"b\":[1,1e+21,1e-7,0]}"
}

func ExampleMarshal() {
	out, err := jcs.Marshal(map[string]any{"z": "<&>", "a": 0.5})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(out))
	// Output: {"a":0.5,"z":"<&>"}
}
