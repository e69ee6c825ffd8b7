// The study deck: Spanish–English vocabulary shipped with the app (no network needed).
//
// Each entry is { id, spanish, english, category }. Ids are stable, of the form `es:<slug>`
// (ASCII, lowercase, hyphens, no article): they are the `wordId` of the progress API, so never
// rename one once learners have progress on it. The demo data uses es:hola, es:adios,
// es:gracias, es:por-favor, es:uno, es:dos, es:tres, es:rojo, es:azul, es:verde, es:madre,
// es:padre, es:pan, es:agua, es:perro, es:gato, es:lunes, es:martes, es:escuela, es:libro.
//
// Source format below: one word a line, "slug | spanish | english", grouped by category.

const SOURCE = {
  "Greetings": `
    hola | hola | hello
    adios | adiós | goodbye
    gracias | gracias | thank you
    por-favor | por favor | please
    de-nada | de nada | you're welcome
    buenos-dias | buenos días | good morning
    buenas-tardes | buenas tardes | good afternoon
    buenas-noches | buenas noches | good evening / good night
    hasta-luego | hasta luego | see you later
    hasta-manana | hasta mañana | see you tomorrow
    perdon | perdón | sorry / excuse me
    lo-siento | lo siento | I'm sorry
    si | sí | yes
    no | no | no
    bienvenido | bienvenido | welcome
    que-tal | ¿qué tal? | how's it going?
    como-estas | ¿cómo estás? | how are you?
    muy-bien | muy bien | very well
    mucho-gusto | mucho gusto | nice to meet you
    me-llamo | me llamo… | my name is…
    con-permiso | con permiso | excuse me (to get past)
    salud | ¡salud! | cheers / bless you
    claro | claro | of course
    tal-vez | tal vez | maybe
    senor | el señor | sir / Mr
    senora | la señora | madam / Mrs
  `,
  "Numbers": `
    cero | cero | zero
    uno | uno | one
    dos | dos | two
    tres | tres | three
    cuatro | cuatro | four
    cinco | cinco | five
    seis | seis | six
    siete | siete | seven
    ocho | ocho | eight
    nueve | nueve | nine
    diez | diez | ten
    once | once | eleven
    doce | doce | twelve
    quince | quince | fifteen
    veinte | veinte | twenty
    treinta | treinta | thirty
    cincuenta | cincuenta | fifty
    cien | cien | one hundred
    mil | mil | one thousand
    primero | primero | first
    ultimo | último | last
  `,
  "Colours": `
    rojo | rojo | red
    azul | azul | blue
    verde | verde | green
    amarillo | amarillo | yellow
    negro | negro | black
    blanco | blanco | white
    gris | gris | grey
    naranja | naranja | orange
    morado | morado | purple
    rosa | rosa | pink
    marron | marrón | brown
    dorado | dorado | golden
    plateado | plateado | silver
    celeste | celeste | sky blue
  `,
  "Family": `
    madre | la madre | mother
    padre | el padre | father
    padres | los padres | parents
    hermano | el hermano | brother
    hermana | la hermana | sister
    hijo | el hijo | son
    hija | la hija | daughter
    abuelo | el abuelo | grandfather
    abuela | la abuela | grandmother
    nieto | el nieto | grandson
    nieta | la nieta | granddaughter
    tio | el tío | uncle
    tia | la tía | aunt
    primo | el primo | cousin (male)
    prima | la prima | cousin (female)
    esposo | el esposo | husband
    esposa | la esposa | wife
    bebe | el bebé | baby
    familia | la familia | family
    amigo | el amigo | friend
  `,
  "Food & drink": `
    pan | el pan | bread
    agua | el agua | water
    leche | la leche | milk
    cafe | el café | coffee
    te | el té | tea
    jugo | el jugo | juice
    vino | el vino | wine
    queso | el queso | cheese
    huevo | el huevo | egg
    carne | la carne | meat
    pollo | el pollo | chicken
    pescado | el pescado | fish (to eat)
    arroz | el arroz | rice
    frijoles | los frijoles | beans
    sopa | la sopa | soup
    ensalada | la ensalada | salad
    manzana | la manzana | apple
    platano | el plátano | banana
    fresa | la fresa | strawberry
    uva | la uva | grape
    limon | el limón | lemon
    tomate | el tomate | tomato
    papa | la papa | potato
    cebolla | la cebolla | onion
    zanahoria | la zanahoria | carrot
    azucar | el azúcar | sugar
    sal | la sal | salt
    mantequilla | la mantequilla | butter
    chocolate | el chocolate | chocolate
    pastel | el pastel | cake
    helado | el helado | ice cream
    desayuno | el desayuno | breakfast
    almuerzo | el almuerzo | lunch
    cena | la cena | dinner
  `,
  "Animals": `
    perro | el perro | dog
    gato | el gato | cat
    caballo | el caballo | horse
    vaca | la vaca | cow
    cerdo | el cerdo | pig
    oveja | la oveja | sheep
    pajaro | el pájaro | bird
    pez | el pez | fish (alive)
    raton | el ratón | mouse
    conejo | el conejo | rabbit
    leon | el león | lion
    tigre | el tigre | tiger
    oso | el oso | bear
    elefante | el elefante | elephant
    mono | el mono | monkey
    serpiente | la serpiente | snake
    tortuga | la tortuga | turtle
    pato | el pato | duck
    gallina | la gallina | hen
    lobo | el lobo | wolf
    mariposa | la mariposa | butterfly
    arana | la araña | spider
  `,
  "Days & time": `
    lunes | el lunes | Monday
    martes | el martes | Tuesday
    miercoles | el miércoles | Wednesday
    jueves | el jueves | Thursday
    viernes | el viernes | Friday
    sabado | el sábado | Saturday
    domingo | el domingo | Sunday
    hoy | hoy | today
    manana | mañana | tomorrow
    ayer | ayer | yesterday
    dia | el día | day
    semana | la semana | week
    mes | el mes | month
    ano | el año | year
    noche | la noche | night
    hora | la hora | hour
    minuto | el minuto | minute
    ahora | ahora | now
    siempre | siempre | always
    nunca | nunca | never
    temprano | temprano | early
    tarde | tarde | late
    enero | enero | January
    febrero | febrero | February
    marzo | marzo | March
    abril | abril | April
    mayo | mayo | May
    junio | junio | June
    julio | julio | July
    agosto | agosto | August
    septiembre | septiembre | September
    octubre | octubre | October
    noviembre | noviembre | November
    diciembre | diciembre | December
  `,
  "School": `
    escuela | la escuela | school
    libro | el libro | book
    cuaderno | el cuaderno | notebook
    lapiz | el lápiz | pencil
    boligrafo | el bolígrafo | pen
    papel | el papel | paper
    mesa | la mesa | table
    silla | la silla | chair
    maestro | el maestro | teacher
    estudiante | el estudiante | student
    clase | la clase | class
    pizarra | la pizarra | board (blackboard)
    examen | el examen | exam
    tarea | la tarea | homework
    pregunta | la pregunta | question
    respuesta | la respuesta | answer
    palabra | la palabra | word
    idioma | el idioma | language
    leccion | la lección | lesson
    mochila | la mochila | backpack
    biblioteca | la biblioteca | library
    regla | la regla | ruler
  `,
  "Home": `
    casa | la casa | house
    puerta | la puerta | door
    ventana | la ventana | window
    cocina | la cocina | kitchen
    bano | el baño | bathroom
    dormitorio | el dormitorio | bedroom
    cama | la cama | bed
    sofa | el sofá | sofa
    llave | la llave | key
    lampara | la lámpara | lamp
    espejo | el espejo | mirror
    techo | el techo | ceiling / roof
    suelo | el suelo | floor
    jardin | el jardín | garden
    escalera | la escalera | stairs
    plato | el plato | plate
    vaso | el vaso | glass (for drinking)
    cuchara | la cuchara | spoon
    tenedor | el tenedor | fork
    cuchillo | el cuchillo | knife
  `,
  "Body": `
    cabeza | la cabeza | head
    cara | la cara | face
    ojo | el ojo | eye
    oreja | la oreja | ear
    nariz | la nariz | nose
    boca | la boca | mouth
    diente | el diente | tooth
    pelo | el pelo | hair
    mano | la mano | hand
    dedo | el dedo | finger
    brazo | el brazo | arm
    hombro | el hombro | shoulder
    espalda | la espalda | back
    pierna | la pierna | leg
    rodilla | la rodilla | knee
    pie | el pie | foot
    corazon | el corazón | heart
    estomago | el estómago | stomach
  `,
  "Clothing": `
    camisa | la camisa | shirt
    camiseta | la camiseta | T-shirt
    pantalones | los pantalones | trousers
    falda | la falda | skirt
    vestido | el vestido | dress
    zapatos | los zapatos | shoes
    calcetines | los calcetines | socks
    sombrero | el sombrero | hat
    abrigo | el abrigo | coat
    chaqueta | la chaqueta | jacket
    bufanda | la bufanda | scarf
    guantes | los guantes | gloves
    cinturon | el cinturón | belt
    gafas | las gafas | glasses
  `,
  "Nature & weather": `
    sol | el sol | sun
    luna | la luna | moon
    estrella | la estrella | star
    cielo | el cielo | sky
    nube | la nube | cloud
    lluvia | la lluvia | rain
    nieve | la nieve | snow
    viento | el viento | wind
    calor | el calor | heat
    arbol | el árbol | tree
    flor | la flor | flower
    mar | el mar | sea
    rio | el río | river
    montana | la montaña | mountain
    playa | la playa | beach
    bosque | el bosque | forest
    lago | el lago | lake
    tierra | la tierra | earth / soil
    fuego | el fuego | fire
    primavera | la primavera | spring
    verano | el verano | summer
    otono | el otoño | autumn
    invierno | el invierno | winter
  `,
  "Places": `
    ciudad | la ciudad | city
    pueblo | el pueblo | village / town
    calle | la calle | street
    plaza | la plaza | square
    tienda | la tienda | shop
    mercado | el mercado | market
    hospital | el hospital | hospital
    banco | el banco | bank
    iglesia | la iglesia | church
    parque | el parque | park
    restaurante | el restaurante | restaurant
    hotel | el hotel | hotel
    museo | el museo | museum
    oficina | la oficina | office
    puente | el puente | bridge
    aeropuerto | el aeropuerto | airport
    estacion | la estación | station
    farmacia | la farmacia | pharmacy
  `,
  "Transport": `
    coche | el coche | car
    autobus | el autobús | bus
    tren | el tren | train
    avion | el avión | plane
    bicicleta | la bicicleta | bicycle
    barco | el barco | boat
    taxi | el taxi | taxi
    metro | el metro | underground / subway
    moto | la moto | motorbike
    camion | el camión | lorry / truck
  `,
  "Jobs": `
    medico | el médico | doctor
    enfermera | la enfermera | nurse
    policia | el policía | police officer
    bombero | el bombero | firefighter
    cocinero | el cocinero | cook
    abogado | el abogado | lawyer
    ingeniero | el ingeniero | engineer
    granjero | el granjero | farmer
    artista | el artista | artist
    cartero | el cartero | postman / mail carrier
    camarero | el camarero | waiter
    dentista | el dentista | dentist
  `,
  "Verbs": `
    ser | ser | to be (who or what)
    estar | estar | to be (how or where)
    tener | tener | to have
    hacer | hacer | to do / to make
    ir | ir | to go
    venir | venir | to come
    comer | comer | to eat
    beber | beber | to drink
    hablar | hablar | to speak
    vivir | vivir | to live
    escribir | escribir | to write
    leer | leer | to read
    correr | correr | to run
    caminar | caminar | to walk
    dormir | dormir | to sleep
    trabajar | trabajar | to work
    estudiar | estudiar | to study
    aprender | aprender | to learn
    ensenar | enseñar | to teach / to show
    jugar | jugar | to play
    cantar | cantar | to sing
    bailar | bailar | to dance
    comprar | comprar | to buy
    vender | vender | to sell
    abrir | abrir | to open
    cerrar | cerrar | to close
    ver | ver | to see
    oir | oír | to hear
    pensar | pensar | to think
    saber | saber | to know (a fact)
    conocer | conocer | to know (a person or place)
    querer | querer | to want / to love
    poder | poder | to be able to
    necesitar | necesitar | to need
    ayudar | ayudar | to help
    esperar | esperar | to wait / to hope
    dar | dar | to give
    decir | decir | to say
    llamar | llamar | to call
    viajar | viajar | to travel
  `,
  "Adjectives": `
    grande | grande | big
    pequeno | pequeño | small
    bueno | bueno | good
    malo | malo | bad
    nuevo | nuevo | new
    viejo | viejo | old
    joven | joven | young
    alto | alto | tall
    bajo | bajo | short (height)
    largo | largo | long
    corto | corto | short (length)
    facil | fácil | easy
    dificil | difícil | difficult
    rapido | rápido | fast
    lento | lento | slow
    caliente | caliente | hot
    frio | frío | cold
    bonito | bonito | pretty
    feo | feo | ugly
    feliz | feliz | happy
    triste | triste | sad
    cansado | cansado | tired
    enfermo | enfermo | ill
    rico | rico | rich / tasty
    pobre | pobre | poor
    limpio | limpio | clean
    sucio | sucio | dirty
    lleno | lleno | full
    vacio | vacío | empty
    abierto | abierto | open
    cerrado | cerrado | closed
    caro | caro | expensive
    barato | barato | cheap
    fuerte | fuerte | strong
    debil | débil | weak
  `,
  "Questions": `
    que | ¿qué? | what?
    quien | ¿quién? | who?
    donde | ¿dónde? | where?
    cuando | ¿cuándo? | when?
    por-que | ¿por qué? | why?
    como | ¿cómo? | how?
    cuanto | ¿cuánto? | how much?
    cual | ¿cuál? | which?
  `,
};

function parse(source) {
  const words = [];
  for (const [category, block] of Object.entries(source)) {
    for (const line of block.split("\n")) {
      const parts = line.split("|").map((part) => part.trim());
      if (parts.length !== 3 || !parts[0]) continue;
      const [slug, spanish, english] = parts;
      words.push(Object.freeze({ id: `es:${slug}`, spanish, english, category }));
    }
  }
  return Object.freeze(words);
}

/** Every word, in teaching order (categories as listed, words as listed). */
export const DECK = parse(SOURCE);

/** The deck's words by id. */
export const WORDS = new Map(DECK.map((word) => [word.id, word]));

export const CATEGORIES = Object.freeze(Object.keys(SOURCE));
