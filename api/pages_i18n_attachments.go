package api

// The texts of attachments: European Portuguese first, then English (messages, pages_i18n.go).
var attachmentMessages = map[string][2]string{
	"attachment.too_large":           {"O ficheiro é maior do que o permitido (%s no máximo).", "The file is larger than allowed (%s at most)."},
	"attachment.type_refused":        {"Este tipo de ficheiro não é aceite. Envie imagens (PNG, JPEG, GIF, WebP), PDF, texto ou registos, ou um ZIP.", "This type of file is not accepted. Send images (PNG, JPEG, GIF, WebP), PDF, text or logs, or a ZIP."},
	"attachment.no_file":             {"Escolha um ficheiro para enviar.", "Choose a file to send."},
	"attachment.unreadable":          {"O ficheiro não chegou inteiro. Tente enviá-lo de novo.", "The file did not arrive whole. Please send it again."},
	"attachment.multipart":           {"Envie o ficheiro como multipart/form-data, na parte \"file\".", "Send the file as multipart/form-data, in the part \"file\"."},
	"attachment.confidential_first":  {"A parte \"confidential\" tem de vir antes do ficheiro.", "The part \"confidential\" must come before the file."},
	"attachment.staff":               {"Indique o membro da equipa (cabeçalho Assistd-Staff-Member ou parte \"staff\").", "Name the member of staff (header Assistd-Staff-Member or part \"staff\")."},
	"attachment.too_many":            {"Pode anexar no máximo 5 ficheiros a cada mensagem.", "You can attach at most 5 files to each message."},
	"attachment.not_yours":           {"Um dos anexos não é válido: envie o ficheiro de novo.", "One of the attachments is not valid: please send the file again."},
	"attachment.removed":             {"Este ficheiro foi eliminado.", "This file was deleted."},
	"attachment.quarantined":         {"Este ficheiro foi colocado em quarentena pela verificação antivírus e não pode ser aberto.", "The virus check quarantined this file; it cannot be opened."},
	"attachment.not_scanned":         {"Este ficheiro ainda está a ser verificado. Tente de novo dentro de momentos.", "This file is still being checked. Please try again in a moment."},
	"attachment.confidential":        {"Este ficheiro é confidencial: só a equipa do departamento o pode abrir.", "This file is confidential: only the department's staff can open it."},
	"attachment.too_large.form":      {"Um dos ficheiros é maior do que o permitido.", "One of the files is larger than allowed."},
	"attachment.withheld.title":      {"Ficheiro indisponível", "File unavailable"},
	"attachment.back":                {"Voltar ao pedido", "Back to the request"},
	"attachment.field":               {"Anexos", "Attachments"},
	"attachment.hint":                {"Até 5 ficheiros de %s cada: imagens, PDF, texto ou registos, ZIP.", "Up to 5 files of %s each: images, PDF, text or logs, ZIP."},
	"attachment.confidential.label":  {"Contém credenciais (ficheiro confidencial, eliminado ao fim de %s)", "Contains credentials (confidential file, deleted after %s)"},
	"attachment.kept":                {"Ficheiros já enviados (mantêm-se):", "Files already sent (kept):"},
	"attachment.scan.pending":        {"em verificação", "being checked"},
	"attachment.scan.infected":       {"em quarentena (vírus detetado)", "quarantined (virus found)"},
	"attachment.scan.unscanned":      {"não verificado (sem antivírus configurado)", "not checked (no virus scanner configured)"},
	"attachment.scan.clean":          {"verificado", "checked"},
	"attachment.removed.label":       {"ficheiro eliminado", "file deleted"},
	"attachment.confidential.marker": {"confidencial", "confidential"},
}

func init() {
	for k, v := range attachmentMessages {
		messages[k] = v
	}
}
