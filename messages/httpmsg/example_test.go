package httpmsg_test

import (
	"fmt"

	"github.com/microstack-go/microstack/messages/httpmsg"
)

// A handler actor gets a Request and answers with a Response; here the
// function a handler's Receive would call.
func Example() {
	answer := func(req *httpmsg.Request) *httpmsg.Response {
		if req.Method != "GET" {
			return &httpmsg.Response{Status: 405}
		}
		return &httpmsg.Response{Body: []byte("item " + req.PathValues["id"])}
	}
	res := answer(&httpmsg.Request{Method: "GET", Path: "/items/7", Pattern: "GET /items/{id}", PathValues: map[string]string{"id": "7"}})
	fmt.Println(res.Status, string(res.Body))
	fmt.Println(answer(&httpmsg.Request{Method: "DELETE"}).Status)
	// Output:
	// 0 item 7
	// 405
}
