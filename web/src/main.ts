document.getElementById("app")!.textContent = "Nuxari";
