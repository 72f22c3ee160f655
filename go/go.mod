module github.com/dhp-project/dhp/go

go 1.19
