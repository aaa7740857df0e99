/* What the server hands the page's scripts: the #page-config JSON (Django's json_script). */

const element = document.getElementById("page-config");

export const config = element ? JSON.parse(element.textContent) : {};
