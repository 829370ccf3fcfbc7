// inbox.js
