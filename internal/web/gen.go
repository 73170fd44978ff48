package web

// The front end's sources are in web/ (TypeScript, ProseMirror); its
// bundle, assets/app.js, is committed so that go build needs no Node.
//go:generate sh -c "cd ../../web && npm ci --no-audit --no-fund && npm run build"
