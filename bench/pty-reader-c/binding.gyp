{ "targets": [ { "target_name": "ptyc", "sources": ["ptyc.c"] } ] }
