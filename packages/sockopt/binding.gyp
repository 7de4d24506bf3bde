{
  "targets": [
    {
      "target_name": "sockopt",
      "sources": ["src/sockopt.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
