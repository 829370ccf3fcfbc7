// admin.js
