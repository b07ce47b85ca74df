// Command etcd is the etcd server of the drill lab: the upstream etcd main,
// built here because the module proxy serves etcdmain but no etcd command
// package outside the etcd repository's root module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
