package api

// CleanFileName is cleanFileName, for the tests of package api_test.
var CleanFileName = cleanFileName
