module taichu.local/apilb

go 1.24
